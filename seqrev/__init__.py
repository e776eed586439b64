"""seqrev: GRU encoder-decoders that learn to reverse strings, with and without attention.

The pipeline, one module each: vocab and data (the task), models (with attention_scores),
training, decoding, evaluation, checkpoints, charts (pictures), cli.
"""
