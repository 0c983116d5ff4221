"""Planning and carrying out a reset."""
