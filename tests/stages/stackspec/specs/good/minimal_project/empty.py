"""An application that does nothing."""
