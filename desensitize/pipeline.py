"""`veritune desensitize IN --out OUT`: stream a JSONL file (or a saved HF dataset) through the desensitizer.

Memory stays flat: records are read, processed and written a batch at a time, with a bounded number of batches
in flight across worker processes; output order is input order. OUT is written atomically, then
`OUT.manifest.json` (desensitized: true, sha256 of input and output) last.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from desensitize.config import DesensitizeConfig
from desensitize.detector import recognizer_versions
from desensitize.keys import fingerprint, load_secret
from desensitize.records import RecordDesensitizer, detector_settings, texts_of, validate_record
from veritune.atomic import atomic_dir, atomic_file
from veritune.errors import VerituneError
from veritune.hashing import config_hash
from veritune.logs import get_logger
from veritune.manifest import (
    FOLDER_MANIFEST,
    Manifest,
    file_record,
    folder_records,
    manifest_path_for,
    write_manifest,
)

log = get_logger("desensitize")


@dataclass
class DesensitizeReport:
    output: Path
    manifest: Path
    records: int = 0
    rejects: int = 0
    empty: int = 0
    entities: Counter = field(default_factory=Counter)  # (entity type, language) -> count
    seconds: float = 0.0

    def by_type(self) -> dict[str, int]:
        totals: Counter = Counter()
        for (entity, _), count in self.entities.items():
            totals[entity] += count
        return dict(sorted(totals.items()))


def is_hf_dataset(path: Path) -> bool:
    return path.is_dir() and ((path / "dataset_info.json").is_file() or (path / "state.json").is_file())


def _read_lines(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed object or None, reason it is bad or None) for each non-blank line."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield number, json.loads(raw.decode("utf-8")), None
            except UnicodeDecodeError:
                yield number, None, "line is not UTF-8"
            except json.JSONDecodeError as exc:
                yield number, None, f"malformed JSON ({exc.msg} at column {exc.colno})"


def _read_dataset(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    from datasets import load_from_disk

    for number, row in enumerate(load_from_disk(str(path)), start=1):
        yield number, dict(row), None


def _count(path: Path) -> int | None:
    if is_hf_dataset(path):
        return None
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


# Worker processes build their own desensitizer once (spaCy cannot be shared across processes).
_WORKER: RecordDesensitizer | None = None


def _init_worker(cfg: DesensitizeConfig, domains_root: Path | None, vault: Path | None) -> None:
    global _WORKER
    from veritune.threads import apply_thread_limits

    apply_thread_limits(1)
    _WORKER = RecordDesensitizer(cfg, domains_root=domains_root, default_vault=vault)


def _work(records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Counter]]:
    assert _WORKER is not None
    return _WORKER.process(records)


def _batches(source: Path, cfg: DesensitizeConfig, rejects: list[dict[str, Any]]
             ) -> Iterator[list[dict[str, Any]]]:
    reader = _read_dataset(source) if is_hf_dataset(source) else _read_lines(source)
    batch: list[dict[str, Any]] = []
    for number, record, reason in reader:
        reason = reason or validate_record(record, cfg.fields)
        if reason:
            if not cfg.skip_bad:
                raise VerituneError(f"{reason} (use --skip-bad to set bad lines aside)", path=source, line=number,
                                    field=cfg.field)
            rejects.append({"line": number, "reason": reason})
            continue
        batch.append(record)
        if len(batch) == cfg.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _process_stream(batches: Iterator[list[dict[str, Any]]], cfg: DesensitizeConfig,
                    local: RecordDesensitizer | None, pool: ProcessPoolExecutor | None
                    ) -> Iterator[list[tuple[dict[str, Any], Counter]]]:
    if pool is None:
        assert local is not None
        for batch in batches:
            yield local.process(batch)
        return
    in_flight: list[Future] = []
    for batch in batches:
        in_flight.append(pool.submit(_work, batch))
        if len(in_flight) >= 2 * cfg.workers:  # bounded: memory stays flat on files larger than RAM
            yield in_flight.pop(0).result()
    for future in in_flight:
        yield future.result()


def _manifest(cfg: DesensitizeConfig, source: Path, output: Path, report: DesensitizeReport,
              recognizers: dict[str, str]) -> Manifest:
    resolved = cfg.model_dump()
    if cfg.operator in ("hash", "encrypt", "pseudonym"):
        secret = load_secret(cfg.operator, Path(cfg.key_file) if cfg.key_file else None)
        resolved["key_fingerprint"] = fingerprint(secret)
    resolved["recognizers"] = recognizers
    resolved["config_hash"] = config_hash(resolved)
    inputs = [file_record(source)] if source.is_file() else folder_records(source)
    outputs = [file_record(output, relative_to=output.parent)] if output.is_file() else folder_records(output)
    languages: Counter = Counter()
    for (_, lang), count in report.entities.items():
        languages[lang] += count
    stats = {
        "records": report.records, "rejects": report.rejects, "empty_texts": report.empty,
        "entities_by_type": report.by_type(),
        "entities_by_type_and_language": {f"{e}/{lang}": n for (e, lang), n in sorted(report.entities.items())},
        "entities_by_language": dict(languages), "seconds": round(report.seconds, 2),
        "records_per_second": round(report.records / report.seconds, 1) if report.seconds else None,
        "presidio_anonymizer": version("presidio-anonymizer"),
    }
    return Manifest(kind="dataset", config=resolved, inputs=inputs, outputs=outputs, stats=stats, desensitized=True)


def _write_dataset(jsonl: Path, out_dir: Path) -> None:
    from datasets import Dataset

    with atomic_dir(out_dir) as staging:
        Dataset.from_json(str(jsonl)).save_to_disk(str(staging))


def desensitize_file(source: str | Path, output: str | Path, cfg: DesensitizeConfig,
                     domains_root: Path | None = None, show_progress: bool = True) -> DesensitizeReport:
    source, output = Path(source), Path(output)
    if not source.exists():
        raise VerituneError("input not found", path=source)
    as_dataset = output.suffix != ".jsonl"
    vault = output.parent / "pseudonym_vault.sqlite"
    local = None if cfg.workers > 1 else RecordDesensitizer(cfg, domains_root=domains_root, default_vault=vault)
    recognizers = recognizer_versions(detector_settings(cfg, domains_root))
    # a dataset folder holds its manifest; a JSONL file has X.jsonl.manifest.json beside it
    manifest_file = output / FOLDER_MANIFEST if as_dataset else manifest_path_for(output)
    report = DesensitizeReport(output=output, manifest=manifest_file)
    rejects: list[dict[str, Any]] = []
    started = time.perf_counter()
    jsonl_target = Path(tempfile.mkdtemp(dir=output.absolute().parent)) / "out.jsonl" if as_dataset else output
    pool = (ProcessPoolExecutor(cfg.workers, initializer=_init_worker, initargs=(cfg, domains_root, vault))
            if cfg.workers > 1 else None)
    columns = (TextColumn("desensitizing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with atomic_file(jsonl_target) as handle, Progress(*columns, disable=not show_progress,
                                                               transient=True) as progress:
            task = progress.add_task("records", total=_count(source))
            for results in _process_stream(_batches(source, cfg, rejects), cfg, local, pool):
                for record, counts in results:
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                    report.records += 1
                    report.entities.update(counts)
                    report.empty += not any(text.strip() for name in cfg.fields for text in texts_of(record[name]))
                progress.update(task, completed=report.records + len(rejects))
        report.seconds = time.perf_counter() - started
        report.rejects = len(rejects)
        if as_dataset:
            _write_dataset(jsonl_target, output)
        if rejects:
            with atomic_file(output.with_name(output.name + ".rejects.jsonl")) as handle:
                handle.writelines(json.dumps(r) + "\n" for r in rejects)
        write_manifest(report.manifest, _manifest(cfg, source, output, report, recognizers))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if as_dataset:
            shutil.rmtree(jsonl_target.parent, ignore_errors=True)
    log.info("%d records desensitized (%d rejected); entities: %s", report.records, report.rejects, report.by_type())
    return report
