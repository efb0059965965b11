"""files_in and files_of: a folder's own files, and nothing a link reaches outside it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from modelyard.errors import InvalidInput
from modelyard.storage.artifacts.folders import files_in, files_of


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """``tmp/model`` with two files, beside ``tmp/outside`` holding a secret."""
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"w")
    (model / "sub" / "config.json").write_text("{}")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret")
    return model


def listed(folder: Path) -> dict[str, bytes]:
    return {rel: path.read_bytes() for rel, path in files_in(folder)}


def test_lists_every_file_by_relative_posix_path_in_order(folder: Path) -> None:
    assert files_in(folder) == [
        ("sub/config.json", folder.resolve() / "sub" / "config.json"),
        ("weights.bin", folder.resolve() / "weights.bin"),
    ]


def test_links_that_stay_inside_are_followed_under_their_own_name(folder: Path) -> None:
    (folder / "alias.bin").symlink_to("weights.bin")
    (folder / "same-sub").symlink_to("sub", target_is_directory=True)
    (folder / "sub" / "up.bin").symlink_to("../weights.bin")
    assert listed(folder) == {
        "alias.bin": b"w",
        "same-sub/config.json": b"{}",
        "same-sub/up.bin": b"w",
        "sub/config.json": b"{}",
        "sub/up.bin": b"w",
        "weights.bin": b"w",
    }
    # What is read is the file itself, not a path through the link.
    assert dict(files_in(folder))["alias.bin"] == folder.resolve() / "weights.bin"


def test_the_folder_itself_may_be_a_link(folder: Path, tmp_path: Path) -> None:
    (tmp_path / "current").symlink_to(folder, target_is_directory=True)
    assert listed(tmp_path / "current") == {"sub/config.json": b"{}", "weights.bin": b"w"}


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("leak", "../outside/secret.txt"),
        ("passwd", "/etc/passwd"),
        ("elsewhere", "../outside"),  # a folder outside
        ("sub/deep", "../../outside/secret.txt"),
    ],
)
def test_a_link_leaving_the_folder_is_refused_naming_it(
    folder: Path, name: str, target: str
) -> None:
    (folder / name).symlink_to(target)
    with pytest.raises(InvalidInput, match="outside the folder") as caught:
        files_in(folder)
    assert f"'{name}' in '{folder}' is a link to '{target}'" in caught.value.message
    assert caught.value.details["path"] == name
    assert caught.value.details["target"] == target


def test_a_link_inside_that_leads_out_through_another_link_is_refused(folder: Path) -> None:
    (folder / "hop").symlink_to("../outside", target_is_directory=True)
    (folder / "sub" / "via").symlink_to("../hop/secret.txt")
    with pytest.raises(InvalidInput, match=r"'hop' in .* outside the folder"):
        files_in(folder)
    (folder / "hop").unlink()
    (folder / "hop").symlink_to("../outside/secret.txt")
    (folder / "sub" / "via").unlink()
    (folder / "via").symlink_to("hop")
    with pytest.raises(InvalidInput, match="outside the folder"):
        files_in(folder)


def test_a_dangling_link_is_refused_naming_it(folder: Path) -> None:
    (folder / "gone").symlink_to("nothing-here.bin")
    with pytest.raises(InvalidInput, match=r"'gone' in .* link to 'nothing-here.bin'.*not exist"):
        files_in(folder)


def test_a_link_loop_is_refused(folder: Path) -> None:
    (folder / "sub" / "again").symlink_to("..", target_is_directory=True)
    with pytest.raises(InvalidInput, match=r"'sub/again' .*\(a loop\)"):
        files_in(folder)


def test_links_that_point_at_each_other_are_refused(folder: Path) -> None:
    (folder / "a").symlink_to("b")
    (folder / "b").symlink_to("a")
    with pytest.raises(InvalidInput, match=r"'a' in .* link to 'b'"):
        files_in(folder)


def test_a_fifo_is_refused(folder: Path) -> None:
    os.mkfifo(folder / "sub" / "pipe")
    with pytest.raises(InvalidInput, match=r"'sub/pipe' in .* is a FIFO"):
        files_in(folder)


def test_a_socket_and_a_link_to_a_fifo_are_refused(folder: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(folder / "s"))
        with pytest.raises(InvalidInput, match=r"'s' in .* is a socket"):
            files_in(folder)
    (folder / "s").unlink()
    os.mkfifo(folder / "pipe")
    (folder / "pipe").rename(folder / "sub" / "pipe")
    (folder / "to-pipe").symlink_to("sub/pipe")
    with pytest.raises(InvalidInput, match="is a FIFO"):
        files_in(folder)


def test_files_of_a_file_is_that_file_under_its_name(folder: Path) -> None:
    assert files_of(folder / "weights.bin") == [("weights.bin", folder.resolve() / "weights.bin")]
    assert [rel for rel, _ in files_of(folder)] == ["sub/config.json", "weights.bin"]


@pytest.mark.parametrize(
    ("path", "complaint"),
    [
        ("/dev/zero", "pseudo-filesystem"),
        ("/dev/null", "pseudo-filesystem"),
        ("/proc/self/environ", "pseudo-filesystem"),
        ("/proc/self", "pseudo-filesystem"),
        ("/sys/kernel", "pseudo-filesystem"),
    ],
)
def test_kernel_files_are_refused(path: str, complaint: str) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        files_of(Path(path))


def test_a_link_to_a_kernel_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(InvalidInput, match=r"'.*zero' is on the kernel's /dev pseudo-filesystem"):
        files_of(tmp_path / "zero")


def test_a_fifo_named_directly_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(InvalidInput, match="is a FIFO"):
        files_of(tmp_path / "pipe")
