"""稽查工作台: the web console for inspectors and regulators (server-rendered, on the HTTP listener)."""
