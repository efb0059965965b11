"""Environment specs from YAML, the content hash, uv's messages and the exports."""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from modelyard.config import Settings
from modelyard.environments.capture import _not_from_an_index, installed_lock
from modelyard.environments.export import FORMATS, render, to_conda, to_dockerfile
from modelyard.environments.hashing import environment_hash, normalize_lock, normalize_name
from modelyard.environments.models import Environment, EnvironmentSpec
from modelyard.environments.spec import load_spec
from modelyard.environments.uv_runner import trim_message
from modelyard.errors import InvalidInput

HASH = environment_hash("3.11", ["numpy==1.26.4", "six==1.16.0"])


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def environment(lock: list[str] | None = None) -> Environment:
    lock = ["numpy==1.26.4", "six==1.16.0"] if lock is None else lock
    return Environment(
        name="train",
        version=3,
        hash=environment_hash("3.11", lock),
        python="3.11",
        requirements=["numpy"],
        lock=lock,
        source="spec",
        description=None,
        created_at=1,
        created_by="me",
    )


# YAML specs ---------------------------------------------------------------------------


def test_a_full_spec_is_read(tmp_path: Path) -> None:
    file = write(
        tmp_path / "env.yaml",
        'name: train\npython: "3.11"\nrequirements:\n  - scikit-learn>=1.4\n  - pandas\n'
        "lock:\n  - Six==1.16.0\n  - numpy==1.26.4\ndescription: training steps\n",
    )
    spec = load_spec(file)
    assert spec == EnvironmentSpec(
        name="train",
        python="3.11",
        requirements=["scikit-learn>=1.4", "pandas"],
        lock=["numpy==1.26.4", "six==1.16.0"],
        description="training steps",
    )


def test_a_spec_without_a_lock_has_none(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path / "env.yaml", 'name: t\npython: "3.12"\n'))
    assert (spec.requirements, spec.lock, spec.description) == ([], None, None)


def test_files_are_read_relative_to_the_spec(tmp_path: Path) -> None:
    write(
        tmp_path / "cfg" / "deps" / "requirements.txt",
        "# the training stack\n\nscikit-learn>=1.4  # models\npandas\n",
    )
    write(tmp_path / "cfg" / "train.lock", "numpy==1.26.4\n    # via pandas\nsix==1.16.0\n")
    file = write(
        tmp_path / "cfg" / "env.yaml",
        "name: train\npython: '3.11'\nrequirements_file: deps/requirements.txt\n"
        "lock_file: train.lock\n",
    )
    spec = load_spec(file)
    assert spec.requirements == ["scikit-learn>=1.4", "pandas"]
    assert spec.lock == ["numpy==1.26.4", "six==1.16.0"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [unclosed\n", r"env.yaml is not valid YAML at line \d+, column \d+"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ('name: t\npython: "3.11"\ncolour: blue\n', "unknown field 'colour'"),
        ("name: t\npython: 3.10\n", "'python' must be a quoted string.*3.1"),
        ('python: "3.11"\n', "env.yaml: .*name: Field required"),
        ('name: t\npython: "three"\n', "env.yaml: python version 'three' is not MAJOR.MINOR"),
        ('name: t\npython: "3.11"\nrequirements: pandas\n', "'requirements' must be a list"),
        ('name: t\npython: "3.11"\nrequirements: [1, 2]\n', "'requirements' must be a list"),
        ('name: t\npython: "3.11"\nlock: [pandas]\n', "env.yaml: lock line 'pandas'"),
        (
            'name: t\npython: "3.11"\nrequirements: [a]\nrequirements_file: r.txt\n',
            "'requirements' or 'requirements_file', not both",
        ),
        ('name: t\npython: "3.11"\nlock_file: missing.lock\n', r"missing\.lock' does not exist"),
        ('name: t\npython: "3.11"\nlock_file: 3\n', "'lock_file' must be a path"),
    ],
)
def test_bad_specs_name_the_file_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    file = write(tmp_path / "env.yaml", text)
    with pytest.raises(InvalidInput, match=message) as caught:
        load_spec(file)
    assert "env.yaml" in caught.value.message


def test_a_missing_spec_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"environment file '.*nope\.yaml' does not exist"):
        load_spec(tmp_path / "nope.yaml")


def test_a_spec_must_be_utf8(tmp_path: Path) -> None:
    (tmp_path / "env.yaml").write_bytes(b"name: caf\xe9\n")
    with pytest.raises(InvalidInput, match=r"env\.yaml' is not UTF-8 text"):
        load_spec(tmp_path / "env.yaml")


def test_a_folder_is_not_a_spec(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="is a folder"):
        load_spec(tmp_path)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("pandas\n-r other.txt\n", r"reqs\.txt:2: '-r other\.txt' is an option"),
        ("pandas\n\n ;;bad\n", r"reqs\.txt:3: requirement ';;bad'"),
    ],
)
def test_bad_requirement_file_lines_name_file_and_line(
    tmp_path: Path, lines: str, message: str
) -> None:
    write(tmp_path / "reqs.txt", lines)
    file = write(tmp_path / "env.yaml", 'name: t\npython: "3.11"\nrequirements_file: reqs.txt\n')
    with pytest.raises(InvalidInput, match=message):
        load_spec(file)


def test_an_unpinned_lock_file_line_is_named(tmp_path: Path) -> None:
    write(tmp_path / "env.lock", "six==1.16.0\nnumpy>=1\n")
    file = write(tmp_path / "env.yaml", 'name: t\npython: "3.11"\nlock_file: env.lock\n')
    with pytest.raises(InvalidInput, match=r"env\.lock:2: lock line 'numpy>=1' is not pinned"):
        load_spec(file)


# hashing ------------------------------------------------------------------------------


def test_the_hash_is_sha256_of_the_canonical_json() -> None:
    canonical = b'{"lock":["numpy==1.26.4","six==1.16.0"],"python":"3.11"}'
    assert hashlib.sha256(canonical).hexdigest() == HASH


@pytest.mark.parametrize(
    ("raw", "name"),
    [("Scikit_Learn", "scikit-learn"), ("zope.interface", "zope-interface"), ("A-_.b", "a-b")],
)
def test_names_are_normalised(raw: str, name: str) -> None:
    assert normalize_name(raw) == name


def test_spelling_of_names_does_not_change_the_hash() -> None:
    assert environment_hash("3.11", ["Scikit_Learn==1.0"]) == environment_hash(
        "3.11", ["scikit-learn==1.0"]
    )
    assert environment_hash("3.11", [" six == 1.16.0 "]) == environment_hash(
        "3.11", ["six==1.16.0"]
    )


def test_python_and_versions_change_the_hash() -> None:
    assert environment_hash("3.12", ["numpy==1.26.4", "six==1.16.0"]) != HASH
    assert environment_hash("3.11", ["numpy==1.26.5", "six==1.16.0"]) != HASH
    assert environment_hash("3.11", ["numpy==1.26.4"]) != HASH


@given(st.permutations(["numpy==1.26.4", "six==1.16.0", "pandas==2.2.2", "pytz==2024.1"]))
def test_the_order_of_the_lock_does_not_change_the_hash(lock: list[str]) -> None:
    expected = environment_hash("3.11", sorted(lock))
    assert environment_hash("3.11", lock) == expected
    assert environment_hash("3.11", [*lock, lock[0]]) == expected  # a repeated line too


@pytest.mark.parametrize(
    "line", ["pandas", "pandas>=2", "pandas==2.*", "pandas===2", "pandas[sql]==2", "==1.0", ""]
)
def test_only_exact_pins_make_a_lock(line: str) -> None:
    with pytest.raises(InvalidInput, match="is not pinned as name==version"):
        normalize_lock([line])


# uv's messages ------------------------------------------------------------------------


def test_uv_errors_become_one_line_from_the_first_error() -> None:
    stderr = (
        "warning: something unrelated\n"
        "error: No solution found when resolving dependencies:\n"
        "  cause: Because x was not found in the package registry, we can conclude that "
        "your requirements are unsatisfiable.\n"
    )
    assert trim_message(stderr) == (
        "No solution found when resolving dependencies: Because x was not found in the "
        "package registry, we can conclude that your requirements are unsatisfiable"
    )
    assert trim_message("") == "uv failed without saying why"
    assert trim_message("error: " + "x" * 5000).endswith("...")


# capture ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direct_url", "origin"),
    [
        (None, None),
        ({"url": "file:///src/pkg", "dir_info": {"editable": True}}, "editable"),
        ({"url": "file:///src/pkg", "dir_info": {}}, "local folder"),
        ({"url": "file:///w/pkg-1.0-py3-none-any.whl", "archive_info": {}}, "local file"),
        ({"url": "https://x/pkg.git", "vcs_info": {"vcs": "git"}}, "version control"),
        ({"url": "https://x/pkg-1.0.tar.gz", "archive_info": {}}, "direct URL"),
    ],
)
def test_installs_not_from_an_index_are_recognised(
    tmp_path: Path, direct_url: dict[str, object] | None, origin: str | None
) -> None:
    info = tmp_path / "pkg-1.0.dist-info"
    write(info / "METADATA", "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n")
    if direct_url is not None:
        write(info / "direct_url.json", json.dumps(direct_url))
    assert _not_from_an_index(metadata.PathDistribution(info)) == origin


def dist_info(folder: Path, name: str, version: str, direct_url: str | None = None) -> None:
    info = folder / f"{name.replace('-', '_')}-{version.replace(' ', '_')}.dist-info"
    header = f"Name: {name}\n" if name else ""
    write(info / "METADATA", f"Metadata-Version: 2.1\n{header}Version: {version}\n")
    if direct_url is not None:
        write(info / "direct_url.json", direct_url)


def test_the_lock_of_installed_packages_leaves_out_what_no_index_has(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    dist_info(first, "Six", "1.16.0")
    dist_info(first, "modelyard", "0.1.0")
    dist_info(
        first, "mine", "0.3", json.dumps({"url": "file:///w", "dir_info": {"editable": True}})
    )
    dist_info(first, "odd", "not a version")
    dist_info(first, "broken", "1.0", "{not json")
    dist_info(first, "", "1.0")  # no name: skipped silently
    dist_info(second, "six", "1.15.0")  # shadowed by the first on the path
    dist_info(second, "Zope.Interface", "6.0")
    lock, left_out = installed_lock([str(first), str(second)])
    assert lock == ["six==1.16.0", "zope-interface==6.0"]
    assert left_out == [
        "broken (unknown origin)",
        "mine (editable)",
        "modelyard (Modelyard itself)",
        "odd (version 'not a version' cannot be pinned)",
    ]


# the materialization cache -------------------------------------------------------------


def test_environments_are_cached_under_home_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELYARD_ENV_CACHE", raising=False)
    assert Settings(home=tmp_path / "h").resolved_env_cache == tmp_path / "h" / "envs"
    monkeypatch.setenv("MODELYARD_ENV_CACHE", str(tmp_path / "shared"))
    assert Settings(home=tmp_path / "h").resolved_env_cache == tmp_path / "shared"


# exports ------------------------------------------------------------------------------


def test_requirements_export_pins_the_lock_under_a_header() -> None:
    assert render(environment(), "requirements") == (
        "# Modelyard environment train:3 (Python 3.11)\n"
        f"# sha256 {HASH}\n"
        "numpy==1.26.4\n"
        "six==1.16.0\n"
    )


def test_conda_export_is_an_environment_file() -> None:
    text = to_conda(environment())
    assert text.startswith(f"# Modelyard environment train:3 (Python 3.11)\n# sha256 {HASH}\n")
    assert yaml.safe_load(text) == {
        "name": "train",
        "channels": ["conda-forge"],
        "dependencies": ["python=3.11", "pip", {"pip": ["numpy==1.26.4", "six==1.16.0"]}],
    }
    bare = yaml.safe_load(to_conda(environment(lock=[])))
    assert bare["dependencies"] == ["python=3.11", "pip"]


def test_dockerfile_export_installs_the_lock_on_the_python_image() -> None:
    lines = to_dockerfile(environment()).splitlines()
    instructions = [line for line in lines if line and not line.startswith(("#", " "))]
    assert instructions[0] == "FROM python:3.11-slim"
    assert "COPY requirements.txt /tmp/requirements.txt" in instructions
    assert instructions[-1] == "RUN pip install --no-deps -r /tmp/requirements.txt"
    text = "\n".join(lines)
    assert 'org.modelyard.environment.name="train"' in text
    assert 'org.modelyard.environment.version="3"' in text
    assert f'org.modelyard.environment.hash="{HASH}"' in text


def test_unknown_export_format_lists_the_known_ones() -> None:
    assert FORMATS == ("requirements", "conda", "dockerfile")
    with pytest.raises(InvalidInput, match=r"'wheel'.*requirements, conda, dockerfile"):
        render(environment(), "wheel")
