print("app step")
