"""Counting prompt tokens offline with the encodings LiteLLM ships, and the cheap estimate beside it."""

from __future__ import annotations

import shutil

import pytest

from gateway import tokens


def test_the_shipped_files_are_the_real_encodings():
    text = "Hello, world! Tokenizers count differently."
    # Token ids as OpenAI's own tokenizers give them for this text.
    assert tokens.load_encoding("o200k_base").encode_ordinary(text) == [
        13225,
        11,
        2375,
        0,
        17951,
        24223,
        3605,
        36490,
        13,
    ]
    assert tokens.load_encoding("cl100k_base").encode_ordinary(text) == [
        9906,
        11,
        1917,
        0,
        9857,
        12509,
        1797,
        22009,
        13,
    ]


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("openai/gpt-4o", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("azure/my-deployment", "o200k_base"),
        ("openai/gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("azure/gpt-35-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
    ],
)
def test_models_are_counted_in_their_own_encoding(model, encoding):
    assert tokens.encoding_name(model) == encoding


def test_a_tampered_or_missing_file_is_refused(tmp_path):
    source = tokens.tokenizers_dir() / tokens.ENCODING_FILES["o200k_base"][0]
    target = tmp_path / source.name
    shutil.copyfile(source, target)
    assert len(tokens.read_ranks("o200k_base", tmp_path)) > 199_000
    with target.open("ab") as f:
        f.write(b"IQ== 0\n")  # one line more: the checksum no longer matches
    with pytest.raises(tokens.TokenizerUnavailable, match="checksum"):
        tokens.read_ranks("o200k_base", tmp_path)
    target.unlink()
    with pytest.raises(tokens.TokenizerUnavailable, match="cannot read"):
        tokens.read_ranks("o200k_base", tmp_path)


def test_messages_are_framed_as_openai_counts_them():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello, world!"}]
    content = sum(len(tokens.load_encoding().encode_ordinary(m["content"])) for m in messages)
    assert tokens.count_prompt_tokens("openai/gpt-4o", messages) == content + 2 * 4 + 3
    # Content given as parts is counted by its text.
    parts = [{"role": "user", "content": [{"type": "text", "text": "Hello, world!"}]}]
    assert tokens.count_prompt_tokens("gpt-4o", parts) == tokens.count_prompt_tokens("gpt-4o", messages[1:])
