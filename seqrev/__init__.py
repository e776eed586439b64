"""seqrev: GRU encoder-decoders that learn to reverse strings, with and without attention.

The folders follow the pipeline, each importing only from those above it in this list:
- top-level modules: errors, disk (safe writes), devices, settings (one definition of every
  setting), tables (how a column is shown);
- tasks: the alphabet, the task, batches;
- models: the encoder-decoders;
- decoding: greedy and beam search, scoring;
- training: the trainer, its optimiser and settings;
- checkpoints: save and load;
- inspection: what a trained model does inside;
- runs: training in worker processes;
- sweeps: grids of runs;
- charts: plotly figures from plain data;
- teaching: the lesson and the lab report;
- cli: ``python -m seqrev``.
"""
