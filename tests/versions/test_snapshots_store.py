"""The content-addressed store: dedup, byte-exact reads, atomic restore (property tests)."""

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from catalog.snapshots import SnapshotError, SnapshotMismatch, SnapshotStore, file_sha256


def test_put_is_content_addressed_and_deduplicated(tmp_path):
    store = SnapshotStore(tmp_path)
    a = store.put_bytes(b"hello")
    assert a == hashlib.sha256(b"hello").hexdigest()
    assert store.put_bytes(b"hello") == a
    assert list(store.digests()) == [a]
    assert store.path_for(a) == tmp_path / a[:2] / a[2:]
    assert not os.access(store.path_for(a), os.W_OK) or os.geteuid() == 0
    assert list((tmp_path / "tmp").iterdir()) == []


def test_put_with_wrong_expectation_stores_nothing(tmp_path):
    store = SnapshotStore(tmp_path)
    with pytest.raises(SnapshotMismatch, match="changed while it was read"):
        store.put_stream(iter([b"abc"]), expected="0" * 64)
    assert list(store.digests()) == [] and list((tmp_path / "tmp").iterdir()) == []


def test_bad_digest_is_refused(tmp_path):
    with pytest.raises(SnapshotError):
        SnapshotStore(tmp_path).path_for("../../etc/passwd")


def test_restore_refuses_a_changed_file(tmp_path):
    store = SnapshotStore(tmp_path / "s")
    old = store.put_bytes(b"v1")
    dest = tmp_path / "f.csv"
    dest.write_bytes(b"edited by hand")
    with pytest.raises(SnapshotMismatch, match="changed since"):
        store.restore_to(old, dest, expected_current=hashlib.sha256(b"v2").hexdigest())
    assert dest.read_bytes() == b"edited by hand"


def test_interrupted_restore_leaves_the_old_file_whole(tmp_path, monkeypatch):
    store = SnapshotStore(tmp_path / "s")
    digest = store.put_bytes(b"new bytes" * 1000)
    dest = tmp_path / "f.csv"
    dest.write_bytes(b"old bytes")

    def crash(*args, **kwargs):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        store.restore_to(digest, dest, expected_current=file_sha256(dest))
    assert dest.read_bytes() == b"old bytes"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".f.csv")] == []


class StoreMachine(RuleBasedStateMachine):
    """Any sequence of versions, rollbacks and deletions: what is retained reads back exactly,
    and the data file always holds whole bytes of some version."""

    def __init__(self):
        super().__init__()
        import tempfile

        self.dir = Path(tempfile.mkdtemp(prefix="snapstore-"))
        self.store = SnapshotStore(self.dir / "store")
        self.file = self.dir / "data.bin"
        self.file.write_bytes(b"")
        self.retained: dict[str, bytes] = {self.store.put_bytes(b""): b""}
        self.current = hashlib.sha256(b"").hexdigest()
        self.known: dict[str, bytes] = dict(self.retained)

    @rule(data=st.binary(max_size=2048))
    def new_version(self, data):
        self.file.write_bytes(data)
        digest = self.store.put_file(self.file, expected=hashlib.sha256(data).hexdigest())
        self.retained[digest] = data
        self.known[digest] = data
        self.current = digest

    @precondition(lambda self: len(self.retained) > 1)
    @rule(pick=st.integers(min_value=0))
    def rollback(self, pick):
        target = sorted(self.retained)[pick % len(self.retained)]
        self.store.put_file(self.file, expected=self.current)  # replaced bytes are kept
        self.store.restore_to(target, self.file, expected_current=self.current)
        self.current = target

    @rule(pick=st.integers(min_value=0), crash=st.booleans())
    def interrupted_rollback(self, pick, crash):
        target = sorted(self.retained)[pick % len(self.retained)]
        real = os.replace

        def boom(*args, **kwargs):
            raise OSError("crash")

        os.replace = boom if crash else real
        try:
            self.store.restore_to(target, self.file, expected_current=self.current)
            self.current = target
        except OSError:
            pass
        finally:
            os.replace = real

    @precondition(lambda self: len(self.retained) > 1)
    @rule(pick=st.integers(min_value=0))
    def delete(self, pick):
        candidates = sorted(d for d in self.retained if d != self.current)
        if not candidates:
            return
        digest = candidates[pick % len(candidates)]
        self.store.remove(digest)
        del self.retained[digest]

    @invariant()
    def retained_read_back_byte_for_byte(self):
        for digest, data in self.retained.items():
            assert self.store.read_bytes(digest) == data

    @invariant()
    def file_is_whole(self):
        assert hashlib.sha256(self.file.read_bytes()).hexdigest() == self.current
        leftovers = [p for p in self.dir.iterdir() if p.name.startswith(".data.bin")]
        assert leftovers == []

    @invariant()
    def store_holds_exactly_what_is_retained(self):
        assert set(self.store.digests()) == set(self.retained)


StoreMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_store_state_machine = StoreMachine.TestCase


@given(chunks=st.lists(st.binary(max_size=512), max_size=8))
@settings(max_examples=50, deadline=None)
def test_streamed_put_equals_joined_bytes(chunks):
    import tempfile

    store = SnapshotStore(tempfile.mkdtemp(prefix="snapput-"))
    digest = store.put_stream(iter(chunks))
    assert store.read_bytes(digest) == b"".join(chunks)


def test_put_file_copies_in_pieces_and_names_the_copy_by_its_bytes(tmp_path, monkeypatch):
    import catalog.snapshots as snapshots

    monkeypatch.setattr(snapshots, "COPY_RANGE", 1000)  # many copy_file_range calls
    data = os.urandom(10_500)
    source = tmp_path / "f.csv"
    source.write_bytes(data)
    store = SnapshotStore(tmp_path / "s")
    digest = store.put_file(source, expected=hashlib.sha256(data).hexdigest())
    assert store.read_bytes(digest) == data
    assert list((tmp_path / "s" / "tmp").iterdir()) == []


def test_put_file_falls_back_when_the_kernel_cannot_copy(tmp_path, monkeypatch):
    import errno

    import catalog.snapshots as snapshots

    monkeypatch.setattr(snapshots, "COPY_RANGE", 1000)
    calls = []
    real = os.copy_file_range

    def refuse_after_one_piece(src, dst, count):
        calls.append(count)
        if len(calls) > 1:  # part of the file is copied already: the fallback starts over
            raise OSError(errno.EXDEV, "cross-device")
        return real(src, dst, count)

    monkeypatch.setattr(os, "copy_file_range", refuse_after_one_piece)
    data = b"a,b\n" + b"1,2\n" * 2000
    source = tmp_path / "f.csv"
    source.write_bytes(data)
    store = SnapshotStore(tmp_path / "s")
    digest = store.put_file(source, expected=hashlib.sha256(data).hexdigest())
    assert len(calls) == 2
    assert store.read_bytes(digest) == data


def test_put_file_refuses_a_file_changed_since_fingerprinted(tmp_path):
    source = tmp_path / "f.csv"
    source.write_bytes(b"a\n1\n")
    fingerprint = file_sha256(source)
    source.write_bytes(b"a\n2\n")  # changed between the fingerprint and the snapshot
    store = SnapshotStore(tmp_path / "s")
    with pytest.raises(SnapshotMismatch, match="changed while it was read"):
        store.put_file(source, expected=fingerprint)
    assert list(store.digests()) == [] and list((tmp_path / "s" / "tmp").iterdir()) == []
