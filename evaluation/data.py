"""HelpSteer2 rows: loading, validation, filtering and seeded train/dev/test splits.

A dataset *spec* is either a local file (``.json``, ``.jsonl``/``.ndjson``, ``.csv`` or
``.parquet``) or a Hugging Face dataset name (``nvidia/HelpSteer2`` by default). When the
default name is asked for and the hub cannot be reached, the shipped synthetic sample in
``evaluation/sample/`` is used instead and :attr:`LoadedData.fallback_message` says so.

The pipeline mirrors the original project's (full train split -> one helpfulness subset ->
adversarial prompts removed -> seeded sample -> split) with three fixes: the adversarial
filter matches whole words, prompts are de-duplicated so none can land in two splits, and
the sample depends only on the rows and the seed (never on input order or hash seeds).

The subsets are the original project's two: ``middle`` (helpfulness 2-3, the default) and
``high`` (helpfulness 4).

Over 500 lines on purpose: one pipeline read top to bottom (validation, file readers, the Hugging Face
hub, the pipeline, the output), each section used by the next.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import numbers
import os
import queue
import random
import re
import socket
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

DEFAULT_DATASET = "nvidia/HelpSteer2"
SHIPPED_SAMPLE = Path(__file__).resolve().parent / "sample" / "helpsteer2_sample.jsonl"
SCORE_FIELDS: tuple[str, ...] = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")

# The data subsets a run can optimize on: the helpfulness scores each keeps.
SUBSETS: dict[str, frozenset[int]] = {"middle": frozenset({2, 3}), "high": frozenset({4})}
DEFAULT_SUBSET = "middle"
KEPT_HELPFULNESS: frozenset[int] = SUBSETS[DEFAULT_SUBSET]
SPLIT_NAMES: tuple[str, ...] = ("train", "dev", "test")
MANIFEST_VERSION = 1

_FILE_FORMATS = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
_TRUE_VALUES = {"1", "ON", "YES", "TRUE"}

# Whole-word patterns. The seed project's substring test for "dan" also dropped "dance",
# "guidance" and "abundant"; here "DAN" only counts in capitals, so "Dan Brown" stays.
ADVERSARIAL_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\bDAN\b"),
    re.compile(r"\bdo anything now\b", re.IGNORECASE),
    re.compile(r"\bjailbr(?:eak|oken)(?:s|ed|ing)?\b", re.IGNORECASE),
    re.compile(r"\bdeveloper mode\b", re.IGNORECASE),
    re.compile(
        r"\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+)?"
        r"(?:previous|prior|above|earlier|preceding|original)\s+(?:instructions|prompts?|rules|directions|guidelines)\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:bypass|override|evade|circumvent|disable)\b.{0,40}?\b(?:safety|content|ethical)\s+"
        r"(?:filters?|polic(?:y|ies)|guidelines|restrictions|guardrails)\b",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:unfiltered|uncensored|unrestricted)\s+(?:ai|assistant|model|chatbot|mode)\b", re.IGNORECASE),
    re.compile(
        r"\b(?:reveal|print|show|repeat|leak)\b.{0,30}?\b(?:system prompt|hidden instructions|initial instructions)\b",
        re.IGNORECASE,
    ),
)


class DataError(Exception):
    """A problem with the user's data or data options; the message is one line meant for the user."""


@dataclass(frozen=True, slots=True)
class Row:
    """One HelpSteer2 prompt/response pair with its five 0-4 scores."""

    prompt: str
    response: str
    helpfulness: int
    correctness: int
    coherence: int
    complexity: int
    verbosity: int

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, compact, UTF-8 text): the unit that fingerprints hash."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class LoadedData:
    """Validated rows plus where they came from."""

    rows: tuple[Row, ...]
    source: str
    fingerprint: str  # sha256 of the file bytes, or of the canonical rows for hub data
    skipped_rows: tuple[str, ...] = ()  # "<location>: <problem>" for each bad row skipped
    fallback_message: str | None = None  # set when the shipped sample stood in for the hub

    @property
    def skipped(self) -> int:
        return len(self.skipped_rows)

    @property
    def used_shipped_sample(self) -> bool:
        return self.fallback_message is not None


@dataclass(frozen=True)
class Splits:
    """Disjoint train/dev/test rows and the record of how they were made."""

    train: list[Row]
    dev: list[Row]
    test: list[Row]
    counts: list[tuple[str, int]]  # (step, rows remaining after it), in pipeline order
    seed: int
    source: str
    input_fingerprint: str
    bad_rows_skipped: int = 0
    used_shipped_sample: bool = False
    sizes: dict[str, int] = field(default_factory=dict)
    subset: str = DEFAULT_SUBSET

    def split(self, name: str) -> list[Row]:
        """The rows of split ``name`` ("train", "dev" or "test")."""
        if name not in SPLIT_NAMES:
            raise KeyError(name)
        rows: list[Row] = getattr(self, name)
        return rows

    def manifest(self) -> dict[str, Any]:
        """A JSON-ready record of the run: counts per step, seed, sizes, fingerprints, source."""
        return {
            "manifest_version": MANIFEST_VERSION,
            "source": self.source,
            "used_shipped_sample": self.used_shipped_sample,
            "input_sha256": self.input_fingerprint,
            "bad_rows_skipped": self.bad_rows_skipped,
            "seed": self.seed,
            "subset": self.subset,
            "sizes": dict(self.sizes),
            "counts": dict(self.counts),
            "splits": {
                name: {"rows": len(self.split(name)), "sha256": split_fingerprint(self.split(name))}
                for name in SPLIT_NAMES
            },
        }


def subset_helpfulness(subset: str) -> frozenset[int]:
    """The helpfulness scores ``subset`` keeps; DataError for an unknown name."""
    try:
        return SUBSETS[subset]
    except KeyError:
        raise DataError(f"unknown subset {subset!r} (expected one of: {', '.join(SUBSETS)})") from None


def subset_label(subset: str) -> str:
    """The pipeline step that keeps ``subset``'s rows, as the counts name it ("helpfulness 2-3")."""
    kept = sorted(subset_helpfulness(subset))
    span = str(kept[0]) if len(kept) == 1 else f"{kept[0]}-{kept[-1]}"
    return f"helpfulness {span}"


def split_fingerprint(rows: Sequence[Row]) -> str:
    """sha256 of the rows as canonical JSON Lines; equals the sha256 of the file write_splits writes."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(row.to_json().encode("utf-8") + b"\n")
    return digest.hexdigest()


def normalise_prompt(prompt: str) -> str:
    """The comparison form of a prompt: whitespace runs collapsed, case folded."""
    return " ".join(prompt.split()).casefold()


def is_adversarial(prompt: str) -> bool:
    """True if the prompt looks like a jailbreak or prompt-injection attempt."""
    return any(pattern.search(prompt) for pattern in ADVERSARIAL_PATTERNS)


# --------------------------------------------------------------------------- validation


class _BadRow(Exception):
    """One row's problem; turned into a DataError or a skip by the caller."""


def _text(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        raise _BadRow(f"missing field '{name}'")
    if not isinstance(value, str):
        raise _BadRow(f"{name} must be text, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _BadRow(f"{name} is not valid UTF-8 text") from None
    return value


def _score(record: Mapping[str, Any], name: str) -> int:
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _BadRow(f"missing field '{name}'")
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, numbers.Integral):
        number = int(value)
    elif isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        number = int(float(value))
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            try:
                as_float = float(value.strip())
            except ValueError:
                as_float = math.nan
            number = int(as_float) if math.isfinite(as_float) and as_float.is_integer() else None
    if number is None or not 0 <= number <= 4:
        raise _BadRow(f"{name} must be an integer 0-4, got {value!r}")
    return number


def _row_from_record(record: Any) -> Row:
    if not isinstance(record, Mapping):
        raise _BadRow(f"expected an object, got {type(record).__name__}")
    prompt = _text(record, "prompt")
    if not prompt.strip():
        raise _BadRow("empty prompt")
    response = _text(record, "response")
    scores = {name: _score(record, name) for name in SCORE_FIELDS}
    return Row(prompt=prompt, response=response, **scores)


# --------------------------------------------------------------------------- file readers


@dataclass(frozen=True)
class _Unreadable:
    """Stands in for a record that could not even be decoded."""

    problem: str


# Each reader yields (location, record): a record to validate, or _Unreadable.
_Records = Iterator[tuple[str, Any]]


def _read_jsonl(data: bytes, path: Path) -> _Records:
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        location = f"line {number}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield location, _Unreadable(f"not valid UTF-8 (byte {exc.start})")
            continue
        if not text.strip():
            continue
        try:
            yield location, json.loads(text)
        except json.JSONDecodeError as exc:
            yield location, _Unreadable(f"invalid JSON ({exc.msg} at column {exc.colno})")


def _read_json(data: bytes, path: Path) -> _Records:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        hint = " (one object per line? name the file .jsonl)" if exc.msg == "Extra data" else ""
        raise DataError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{hint}") from None
    if isinstance(document, Mapping) and isinstance(document.get("data"), list):
        document = document["data"]
    if not isinstance(document, list):
        raise DataError(f'{path}: expected a JSON array of objects or an object with a "data" array')
    for index, record in enumerate(document):
        yield f"row index {index}", record


def _read_csv(data: bytes, path: Path) -> _Records:
    # surrogateescape keeps undecodable bytes as lone surrogates, so the bad row (not the
    # whole file) is reported when its text fails validation.
    text = data.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
        missing = [name for name in ("prompt", "response", *SCORE_FIELDS) if name not in header]
        if missing:
            raise DataError(f"{path}: missing column(s): {', '.join(missing)}")
        for index, record in enumerate(reader):
            location = f"row index {index} (line {reader.line_num})"
            extra = record.get(None)  # DictReader files surplus fields under None
            if extra:
                yield location, _Unreadable(f"{len(header) + len(extra)} fields but the header has {len(header)}")
            else:
                yield location, record
    except csv.Error as exc:
        raise DataError(f"{path}: unreadable CSV near line {reader.line_num}: {exc}") from None


def _read_parquet(data: bytes, path: Path) -> _Records:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None
    for index, record in enumerate(table.to_pylist()):
        yield f"row index {index}", record


_READERS: dict[str, Callable[[bytes, Path], _Records]] = {
    "jsonl": _read_jsonl,
    "json": _read_json,
    "csv": _read_csv,
    "parquet": _read_parquet,
}


def _collect(records: Iterable[tuple[str, Any]], label: str, skip_bad_rows: bool) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    skipped: list[str] = []
    for location, record in records:
        try:
            if isinstance(record, _Unreadable):
                raise _BadRow(record.problem)
            rows.append(_row_from_record(record))
        except _BadRow as problem:
            if not skip_bad_rows:
                raise DataError(f"{label}: {location}: {problem}") from None
            skipped.append(f"{location}: {problem}")
    if not rows:
        note = f" ({len(skipped)} bad rows skipped)" if skipped else ""
        raise DataError(f"{label}: no usable rows{note}")
    return rows, skipped


def load_file(path: str | os.PathLike[str], *, skip_bad_rows: bool = False) -> LoadedData:
    """Load and validate a local JSON, JSONL, CSV or Parquet file in the HelpSteer2 schema."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file: {path}")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a data file")
    kind = _FILE_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r} (expected .json, .jsonl, .csv or .parquet)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    if not data.strip():
        raise DataError(f"{path}: file is empty")
    rows, skipped = _collect(_READERS[kind](data, path), str(path), skip_bad_rows)
    return LoadedData(
        rows=tuple(rows),
        source=f"file {path} ({kind})",
        fingerprint=hashlib.sha256(data).hexdigest(),
        skipped_rows=tuple(skipped),
    )


# --------------------------------------------------------------------------- Hugging Face hub


def hub_offline_requested() -> bool:
    """True when the user switched the Hugging Face libraries to offline mode."""
    return any(os.environ.get(name, "").strip().upper() in _TRUE_VALUES for name in _OFFLINE_VARS)


def hub_reachable(endpoint: str | None = None, *, timeout: float = 3.0) -> bool:
    """A quick TCP probe of the hub (or of the HTTPS proxy, when one is configured).

    ``datasets.load_dataset`` retries for about 25 seconds before it gives up on an
    unreachable hub; this probe answers in at most ``timeout`` seconds, name lookup included.
    """
    if hub_offline_requested():
        return False
    url = urllib.parse.urlsplit(endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname or "", url.port or (80 if url.scheme == "http" else 443)
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    if proxy and endpoint is None and not urllib.request.proxy_bypass(host):
        proxy_url = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = proxy_url.hostname or "", proxy_url.port or 80
    if not host:
        return False
    # getaddrinfo has no timeout of its own, so the probe runs on a daemon thread.
    answer: queue.Queue[bool] = queue.Queue(maxsize=1)

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                answer.put(True)
        except OSError:
            answer.put(False)

    threading.Thread(target=probe, name="hub-probe", daemon=True).start()
    try:
        return answer.get(timeout=timeout + 0.5)
    except queue.Empty:
        return False


def load_hub_rows(name: str) -> Iterable[Mapping[str, Any]]:
    """The train split of a Hugging Face dataset, via ``datasets.load_dataset``."""
    import datasets

    dataset: Iterable[Mapping[str, Any]] = datasets.load_dataset(name, split="train")
    return dataset


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _load_hub(
    name: str,
    *,
    skip_bad_rows: bool,
    probe: Callable[[], bool],
    loader: Callable[[str], Iterable[Mapping[str, Any]]],
) -> LoadedData:
    def unreachable(reason: str) -> LoadedData:
        if name != DEFAULT_DATASET:
            raise DataError(f"cannot load {name!r} from the Hugging Face hub ({reason}); pass a local file instead")
        sample = load_file(SHIPPED_SAMPLE)
        message = (
            f"Hugging Face hub unreachable ({reason}); using the shipped synthetic sample "
            f"{SHIPPED_SAMPLE.name} ({len(sample.rows)} rows) instead of {name}"
        )
        return LoadedData(
            rows=sample.rows,
            source=f"shipped synthetic sample {SHIPPED_SAMPLE.name} (stand-in for {name})",
            fingerprint=sample.fingerprint,
            fallback_message=message,
        )

    # In offline mode the loader answers at once from the local cache (or fails at once),
    # so it is worth a try; otherwise the probe spares the user the loader's long retries.
    offline = hub_offline_requested()
    if not offline and not probe():
        return unreachable("no connection")
    try:
        records = loader(name)
        enumerated = ((f"row index {index}", record) for index, record in enumerate(records))
        rows, skipped = _collect(enumerated, f"{name} (Hugging Face)", skip_bad_rows)
    except DataError:
        raise
    except ConnectionError as exc:
        return unreachable("offline mode" if offline else _first_line(exc))
    except (FileNotFoundError, ValueError) as exc:
        raise DataError(f"cannot load {name!r} from the Hugging Face hub: {_first_line(exc)}") from None
    return LoadedData(
        rows=tuple(rows),
        source=f"Hugging Face dataset {name} (train split)",
        fingerprint=split_fingerprint(rows),
        skipped_rows=tuple(skipped),
    )


def load_rows(
    spec: str = DEFAULT_DATASET,
    *,
    skip_bad_rows: bool = False,
    hub_probe: Callable[[], bool] = hub_reachable,
    hub_loader: Callable[[str], Iterable[Mapping[str, Any]]] = load_hub_rows,
) -> LoadedData:
    """Load validated rows from a local file or a Hugging Face dataset name.

    Bad rows raise DataError naming the file, the row and the problem; with
    ``skip_bad_rows`` they are skipped and listed in ``LoadedData.skipped_rows``.
    """
    spec = spec.strip()
    if not spec:
        raise DataError("empty dataset spec")
    path = Path(spec).expanduser()
    # "owner/name" is a hub name unless such a path exists; anything else path-like is a file.
    looks_like_file = (
        path.suffix.lower() in _FILE_FORMATS or spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec
    )
    if looks_like_file or path.exists():
        return load_file(path, skip_bad_rows=skip_bad_rows)
    if not _HUB_NAME.match(spec):
        raise DataError(f"no such file: {spec}")
    return _load_hub(spec, skip_bad_rows=skip_bad_rows, probe=hub_probe, loader=hub_loader)


def read_rows(spec: str, *, skip_bad_rows: bool, note: Callable[[str], None]) -> LoadedData:
    """``load_rows``, telling ``note`` when the shipped sample stands in for a hub dataset it could not reach."""
    loaded = load_rows(spec, skip_bad_rows=skip_bad_rows)
    if loaded.fallback_message:
        note(loaded.fallback_message)
    return loaded


# --------------------------------------------------------------------------- pipeline


def _check_size(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise DataError(f"{name} must be at least {minimum}, got {value}")


def _preference(row: Row) -> tuple[int, int, int, str]:
    # Among rows sharing a prompt keep the best-rated one; the canonical text breaks ties so
    # the choice never depends on the order rows arrived in.
    return (-row.helpfulness, -row.correctness, -row.coherence, row.to_json())


def prepare_splits(
    data: LoadedData | Sequence[Row],
    *,
    seed: int = 42,
    train_size: int = 160,
    dev_size: int = 40,
    test_size: int = 100,
    subset: str = DEFAULT_SUBSET,
) -> Splits:
    """Filter, de-duplicate and sample disjoint train/dev/test splits, recording each step's count.

    Steps: keep the subset's helpfulness scores (2-3 for ``middle``, 4 for ``high``); drop
    adversarial prompts; keep one row per normalised prompt; sort by normalised prompt and
    shuffle with ``random.Random(seed)``; take the test rows first, then train, then dev.
    Taking test first keeps the held-out set the same when only the train/dev sizes change.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DataError(f"seed must be an integer, got {seed!r}")
    _check_size("train_size", train_size, 1)
    _check_size("dev_size", dev_size, 1)
    _check_size("test_size", test_size, 0)
    kept = subset_helpfulness(subset)
    loaded = (
        data
        if isinstance(data, LoadedData)
        else LoadedData(rows=tuple(data), source="in-memory rows", fingerprint=split_fingerprint(list(data)))
    )

    rows = list(loaded.rows)
    counts: list[tuple[str, int]] = [("loaded", len(rows))]
    rows = [row for row in rows if row.helpfulness in kept]
    counts.append((subset_label(subset), len(rows)))
    rows = [row for row in rows if not is_adversarial(row.prompt)]
    counts.append(("adversarial removed", len(rows)))
    best: dict[str, Row] = {}
    for row in rows:
        key = normalise_prompt(row.prompt)
        if key not in best or _preference(row) < _preference(best[key]):
            best[key] = row
    pool = [best[key] for key in sorted(best)]
    counts.append(("duplicate prompts removed", len(pool)))

    needed = train_size + dev_size + test_size
    if needed > len(pool):
        raise DataError(
            f"asked for {needed} rows (train {train_size} + dev {dev_size} + test {test_size}) "
            f"but only {len(pool)} unique prompts remain after filtering {loaded.source} "
            f"to the {subset} subset ({subset_label(subset)})"
        )
    random.Random(seed).shuffle(pool)
    test = pool[:test_size]
    train = pool[test_size : test_size + train_size]
    dev = pool[test_size + train_size : needed]
    counts.append(("sampled", needed))
    counts.extend([("train", len(train)), ("dev", len(dev)), ("test", len(test))])

    seen: dict[str, str] = {}
    for name, split in (("train", train), ("dev", dev), ("test", test)):
        for row in split:
            key = normalise_prompt(row.prompt)
            if key in seen:
                raise AssertionError(f"prompt in both {seen[key]} and {name}: {row.prompt[:60]!r}")
            seen[key] = name

    return Splits(
        train=train,
        dev=dev,
        test=test,
        counts=counts,
        seed=seed,
        source=loaded.source,
        input_fingerprint=loaded.fingerprint,
        bad_rows_skipped=loaded.skipped,
        used_shipped_sample=loaded.used_shipped_sample,
        sizes={"train": train_size, "dev": dev_size, "test": test_size},
        subset=subset,
    )


# --------------------------------------------------------------------------- output


class SplitSettings(Protocol):
    """A run's seed, split sizes and subset, as a ``RunConfig`` or a command's parsed flags hold them."""

    @property
    def seed(self) -> int: ...
    @property
    def train_size(self) -> int: ...
    @property
    def dev_size(self) -> int: ...
    @property
    def test_size(self) -> int: ...
    @property
    def subset(self) -> str: ...


def split_rows(data: LoadedData | Sequence[Row], settings: SplitSettings) -> Splits:
    """``prepare_splits`` with the seed, sizes and subset of ``settings``."""
    return prepare_splits(
        data,
        seed=settings.seed,
        train_size=settings.train_size,
        dev_size=settings.dev_size,
        test_size=settings.test_size,
        subset=settings.subset,
    )


def _write_atomically(path: Path, payload: bytes) -> None:
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_splits(splits: Splits, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write train/dev/test.jsonl and manifest.json into ``out_dir``, each file atomically.

    The manifest goes last, so its presence means the split files beside it are complete.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name in SPLIT_NAMES:
        target = out / f"{name}.jsonl"
        _write_atomically(target, "".join(row.to_json() + "\n" for row in splits.split(name)).encode("utf-8"))
        written[name] = target
    manifest = json.dumps(splits.manifest(), indent=2, ensure_ascii=False) + "\n"
    _write_atomically(out / "manifest.json", manifest.encode("utf-8"))
    written["manifest"] = out / "manifest.json"
    return written
