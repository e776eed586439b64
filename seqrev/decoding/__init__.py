"""Running a trained model: greedy and beam decoding with their attention, and scoring outputs."""
