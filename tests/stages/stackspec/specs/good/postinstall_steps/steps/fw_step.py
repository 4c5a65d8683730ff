print("framework step")
