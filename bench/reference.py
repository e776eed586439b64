"""The lab's two programs, written here to the seed's specification, as the speed baseline.

This follows ``seq2seq.py`` / ``seq2seq_attention.py`` (seed 003) literally: a 27-symbol
vocabulary with ``<EOS>`` = 0 as the start symbol, batches built from Python strings, the
plain decoder as one ``nn.GRU`` call, the attention decoder as one ``nn.GRU`` call per step
with ``W h_i`` recomputed at every step, and ``loss.item()`` printed-style every step.
It is not part of the library; only the benchmark and the equivalence test use it.
"""

from __future__ import annotations

import random
import string

import torch
from torch import nn

UPPER_CHARS_NUMBER = 26
EMBEDDING_LAYER_DIM = 64
GRU_HIDDEN_DIM = 100
BATCH_SIZE = 64
SEQ_LENGTH = 10
LEARNING_RATE = 1e-3


def random_string_batch(batch_size: int = BATCH_SIZE, seq_length: int = SEQ_LENGTH, rng=random):
    """The lab's data: ``encoder_X``, ``decoder_X`` (teacher forcing) and ``Y``, from strings."""
    texts = ["".join(rng.choice(string.ascii_uppercase) for _ in range(seq_length))
             for _ in range(batch_size)]
    encoder_x = [[ord(ch) - ord("A") + 1 for ch in text] for text in texts]
    y = [list(reversed(row)) for row in encoder_x]
    decoder_x = [[0] + row[:-1] for row in y]
    return texts, torch.tensor(encoder_x), torch.tensor(decoder_x), torch.tensor(y)


class LabPlainModel(nn.Module):
    """``seq2seq.py``'s Seq2SeqModel."""

    def __init__(self) -> None:
        super().__init__()
        self.vocab_size = UPPER_CHARS_NUMBER + 1
        self.embedding_layer = nn.Embedding(self.vocab_size, EMBEDDING_LAYER_DIM)
        self.encoder = nn.GRU(EMBEDDING_LAYER_DIM, GRU_HIDDEN_DIM, num_layers=1, batch_first=True)
        self.decoder = nn.GRU(EMBEDDING_LAYER_DIM, GRU_HIDDEN_DIM, num_layers=1, batch_first=True)
        self.linear = nn.Linear(GRU_HIDDEN_DIM, self.vocab_size)

    def forward(self, encoder_x, decoder_x):
        encoder_embedding = self.embedding_layer(encoder_x)
        decoder_embedding = self.embedding_layer(decoder_x)
        _, hidden_state = self.encoder(encoder_embedding)
        decoder_output, _ = self.decoder(decoder_embedding, hidden_state)
        return self.linear(decoder_output).view(-1, self.vocab_size)

    def get_next_token(self, encoder_out, input_x, hidden_state):
        output, new_hidden_state = self.decoder(self.embedding_layer(input_x), hidden_state)
        logit = self.linear(output).squeeze(1)
        return torch.argmax(logit, dim=1), new_hidden_state

    def encode(self, encoder_x):
        encoder_out, hidden_state = self.encoder(self.embedding_layer(encoder_x))
        return encoder_out, hidden_state


class LabAttentionModel(LabPlainModel):
    """``seq2seq_attention.py``'s Seq2SeqModel: bilinear attention, query = previous state."""

    def __init__(self) -> None:
        super().__init__()
        self.decoder = nn.GRU(EMBEDDING_LAYER_DIM + GRU_HIDDEN_DIM, GRU_HIDDEN_DIM,
                              num_layers=1, batch_first=True)
        self.attention_w = nn.Linear(GRU_HIDDEN_DIM, GRU_HIDDEN_DIM, bias=False)

    def get_context_vector(self, encoder_out, hidden_state):
        weight = torch.bmm(self.attention_w(encoder_out), hidden_state.permute(1, 2, 0))
        weight = torch.softmax(weight, dim=1)  # (batch, seq, 1)
        return torch.sum(weight * encoder_out, dim=1, keepdim=True)  # (batch, 1, hidden)

    def decoding(self, encoder_out, decoder_x, hidden_state):
        all_outputs = []
        for i in range(decoder_x.shape[1]):
            input_embedding = self.embedding_layer(decoder_x[:, i].unsqueeze(1))
            context_vectors = self.get_context_vector(encoder_out, hidden_state)
            input_embedding = torch.cat([input_embedding, context_vectors], dim=-1)
            output, hidden_state = self.decoder(input_embedding, hidden_state)
            all_outputs.append(output)
        return torch.cat(all_outputs, dim=1), hidden_state

    def forward(self, encoder_x, decoder_x):
        encoder_out, hidden_state = self.encode(encoder_x)
        decoder_output, _ = self.decoding(encoder_out, decoder_x, hidden_state)
        return self.linear(decoder_output).view(-1, self.vocab_size)

    def get_next_token(self, encoder_out, input_x, hidden_state):
        input_embedding = self.embedding_layer(input_x)
        context_vector = self.get_context_vector(encoder_out, hidden_state)
        decoder_input = torch.cat([input_embedding, context_vector], dim=-1)
        output, new_hidden_state = self.decoder(decoder_input, hidden_state)
        logit = self.linear(output).squeeze(1)
        return torch.argmax(logit, dim=1), new_hidden_state


def lab_model(kind: str) -> LabPlainModel:
    return LabAttentionModel() if kind == "attention" else LabPlainModel()


def make_lab_trainer(model: LabPlainModel, rng: random.Random):
    """A closure doing one lab training step (strings in, ``loss.item()`` out)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss_fn = nn.CrossEntropyLoss()

    def train_step() -> float:
        _, encoder_x, decoder_x, y = random_string_batch(rng=rng)
        logits = model(encoder_x, decoder_x)
        loss = loss_fn(logits, y.view(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    return train_step


@torch.no_grad()
def lab_greedy(model: LabPlainModel, text: str) -> str:
    """The lab's test-time loop: feed <EOS>, take the argmax, feed it back, len(text) times."""
    encoder_x = torch.tensor([[ord(ch) - ord("A") + 1 for ch in text]])
    encoder_out, hidden_state = model.encode(encoder_x)
    token = torch.zeros(1, 1, dtype=torch.long)
    letters = []
    for _ in range(len(text)):
        next_token, hidden_state = model.get_next_token(encoder_out, token, hidden_state)
        letters.append(chr(int(next_token) - 1 + ord("A")) if int(next_token) else "?")
        token = next_token.unsqueeze(1)
    return "".join(letters)


def lab_weights_to_seqrev(model: LabPlainModel, embedding_dim: int = EMBEDDING_LAYER_DIM) -> dict:
    """Map a lab model's weights onto seqrev's parameter names and 29-symbol vocabulary.

    Lab index 0 (<EOS>, its start symbol) becomes our <sos> on the input side and <eos> on
    the output side; lab letters 1..26 become 3..28. Rows for <pad> stay zero.
    """
    from seqrev.tasks.vocab import EOS, FIRST_LETTER, SOS, VOCAB_SIZE

    lab = model.state_dict()
    embedding = torch.zeros(VOCAB_SIZE, embedding_dim)
    embedding[SOS] = lab["embedding_layer.weight"][0]
    embedding[FIRST_LETTER:] = lab["embedding_layer.weight"][1:]
    out_weight = torch.zeros(VOCAB_SIZE, lab["linear.weight"].shape[1])
    out_bias = torch.full((VOCAB_SIZE,), -1e4)
    out_weight[EOS], out_bias[EOS] = lab["linear.weight"][0], lab["linear.bias"][0]
    out_weight[FIRST_LETTER:] = lab["linear.weight"][1:]
    out_bias[FIRST_LETTER:] = lab["linear.bias"][1:]
    weight_ih = lab["decoder.weight_ih_l0"]
    mapped = {
        "embedding.weight": embedding,
        "output.weight": out_weight,
        "output.bias": out_bias,
        "decoder.weight_ih_embedding": weight_ih[:, :embedding_dim],
        "decoder.weight_hh": lab["decoder.weight_hh_l0"],
        "decoder.bias_ih": lab["decoder.bias_ih_l0"],
        "decoder.bias_hh": lab["decoder.bias_hh_l0"],
    }
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        mapped[f"encoder.{name}"] = lab[f"encoder.{name}"]
    if "attention_w.weight" in lab:
        mapped["decoder.weight_ih_context"] = weight_ih[:, embedding_dim:]
        mapped["score.attention_w.weight"] = lab["attention_w.weight"]
    return mapped


def lab_logits_columns() -> list[int]:
    """seqrev's logit columns in the lab's order: <eos>, then A..Z."""
    from seqrev.tasks.vocab import EOS, FIRST_LETTER, VOCAB_SIZE

    return [EOS, *range(FIRST_LETTER, VOCAB_SIZE)]


@torch.no_grad()
def lab_exact_match(model: LabPlainModel, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Exact match and character accuracy of the lab's greedy loop on ``n`` fresh strings."""
    model.eval()
    _, encoder_x, _, y = random_string_batch(n, SEQ_LENGTH, random.Random(seed))
    encoder_out, hidden_state = model.encode(encoder_x)
    token = torch.zeros(n, 1, dtype=torch.long)
    outputs = []
    for _ in range(SEQ_LENGTH):
        next_token, hidden_state = model.get_next_token(encoder_out, token, hidden_state)
        outputs.append(next_token)
        token = next_token.unsqueeze(1)
    produced = torch.stack(outputs, dim=1)  # (n, SEQ_LENGTH)
    model.train()
    hits = produced == y
    return float(hits.all(dim=1).double().mean()), float(hits.double().mean())
