//! Unit tests of the BMP reader.
