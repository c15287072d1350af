"""Wire protocols of exec, attach and port-forward streams; pure: the caller's transport does the I/O."""
