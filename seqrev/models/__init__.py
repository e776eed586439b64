"""The models: the GRU encoder-decoder, with and without bilinear attention."""
