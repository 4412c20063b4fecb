//! AWS wire formats (in progress).
