"""What a person reads: chapters and plans rendered with their files,
reasons, commands and checks, for Jupyter (HTML) and the terminal."""
