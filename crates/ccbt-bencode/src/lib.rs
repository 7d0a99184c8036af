//! ccbt: bencode decoding (zero-copy) and encoding
