"""The secret box: Fernet keys from the setting or the home folder, rotation, clear refusals."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from modelyard.core.secret_box import SETTING, SecretBox, generate_key, require_box
from modelyard.errors import InvalidInput, SecretUnreadable
from modelyard.governance.secrets import SetSecret
from tests.conftest import make_settings

VALUE = "xoxb-not-a-real-token-4f1c"
# A fixed key where a test's id shows it (xdist workers must collect the same ids).
FIXED_KEY = "Zm9yLXRlc3RzLW9ubHktMzItYnl0ZXMtb2Yta2V5ISE="


def box(tmp_path: Path, keys: str | None = None) -> SecretBox:
    return SecretBox(keys, tmp_path / "keys" / "secret-key")


def test_a_value_round_trips_and_its_ciphertext_is_not_the_value(tmp_path: Path) -> None:
    sealed = box(tmp_path, generate_key())
    ciphertext = sealed.encrypt("default", "slack", VALUE)
    assert VALUE not in ciphertext
    assert ciphertext != sealed.encrypt("default", "slack", VALUE), "a fresh IV each time"
    assert sealed.decrypt("default", "slack", ciphertext) == VALUE
    assert sealed.decrypt("default", "empty", sealed.encrypt("default", "empty", "")) == ""


def test_the_first_key_encrypts_and_every_key_decrypts(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    written = box(tmp_path, old).encrypt("default", "s3", VALUE)
    rotating = box(tmp_path, f" {new} , {old} ")  # spaces around keys are ignored
    assert rotating.decrypt("default", "s3", written) == VALUE
    moved = rotating.reencrypt("default", "s3", written)
    assert box(tmp_path, new).decrypt("default", "s3", moved) == VALUE
    with pytest.raises(SecretUnreadable):
        box(tmp_path, old).decrypt("default", "s3", moved)


def test_a_wrong_key_says_which_secret_and_what_to_do(tmp_path: Path) -> None:
    written = box(tmp_path, generate_key()).encrypt("default", "s3", VALUE)
    other = generate_key()
    with pytest.raises(SecretUnreadable) as caught:
        box(tmp_path, other).decrypt("default", "s3", written)
    message = caught.value.message
    assert message.startswith("secret 's3' (workspace 'default') cannot be decrypted")
    assert f"Set {SETTING} to the key it was written with" in message
    assert caught.value.details == {"workspace": "default", "name": "s3"}
    assert other not in message
    assert VALUE not in message
    # Without the setting, it names the key file it tried.
    with pytest.raises(SecretUnreadable, match=r"the key in .*secret-key \(MODELYARD_SECRET_KEY"):
        box(tmp_path).decrypt("default", "s3", written)
    with pytest.raises(SecretUnreadable, match="cannot be decrypted"):
        box(tmp_path).decrypt("default", "s3", "not a fernet token")


def test_a_ciphertext_moved_to_another_secret_does_not_decrypt_as_it(tmp_path: Path) -> None:
    sealed = box(tmp_path, generate_key())
    ciphertext = sealed.encrypt("default", "prod-s3", VALUE)
    with pytest.raises(SecretUnreadable, match="holds the ciphertext of another secret"):
        sealed.decrypt("default", "dev-s3", ciphertext)
    with pytest.raises(SecretUnreadable, match="holds the ciphertext of another secret"):
        sealed.decrypt("team-b", "prod-s3", ciphertext)


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ("not-a-key", "the first key in MODELYARD_SECRET_KEY is not a Fernet key"),
        (f"{FIXED_KEY},short", "the second key in MODELYARD_SECRET_KEY is not a Fernet"),
        (" , ", "MODELYARD_SECRET_KEY holds no key"),
    ],
)
def test_a_malformed_setting_is_named_but_never_shown(
    tmp_path: Path, keys: str, problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem) as caught:
        box(tmp_path, keys).check_keys()
    assert "short" not in caught.value.message
    assert "not-a-key" not in caught.value.message
    assert "modelyard secrets generate-key" in caught.value.message


def test_without_the_setting_one_home_key_is_made_once_for_its_owner_only(
    tmp_path: Path,
) -> None:
    boxes = [SecretBox.for_settings(make_settings(tmp_path)) for _ in range(8)]
    assert not boxes[0].configured
    assert not (tmp_path / ".modelyard" / "keys").exists(), "no key until one is used"
    start = threading.Barrier(len(boxes))
    sealed: list[str] = []

    def seal(each: SecretBox) -> None:
        start.wait(timeout=10)
        sealed.append(each.encrypt("default", "x", VALUE))

    threads = [threading.Thread(target=seal, args=(b,)) for b in boxes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    keys = list((tmp_path / ".modelyard" / "keys").iterdir())
    assert [k.name for k in keys] == ["secret-key"], "one key, no temporary file left"
    assert keys[0].stat().st_mode & 0o077 == 0
    assert keys[0].parent.stat().st_mode & 0o077 == 0
    for ciphertext in sealed:  # every box uses the one key that won
        assert boxes[0].decrypt("default", "x", ciphertext) == VALUE
    # The setting, once given, is used instead of the home key.
    configured = SecretBox.for_settings(make_settings(tmp_path, secret_key=generate_key()))
    assert configured.configured
    with pytest.raises(SecretUnreadable):
        configured.decrypt("default", "x", sealed[0])


def test_a_damaged_home_key_is_refused_without_showing_it(tmp_path: Path) -> None:
    home_key = tmp_path / "keys" / "secret-key"
    home_key.parent.mkdir()
    home_key.write_text("zq-broken-key-zq\n")
    with pytest.raises(InvalidInput, match="secret-key holds no Fernet key") as caught:
        box(tmp_path).check_keys()
    assert "zq-broken-key-zq" not in caught.value.message


def test_a_set_request_keeps_its_value_out_of_its_repr() -> None:
    request = SetSecret(name="slack", value=VALUE)
    assert VALUE not in repr(request)
    assert VALUE not in str(request)
    assert request.model_dump()["value"] == VALUE  # what the REST client sends


def test_a_backend_that_keeps_no_keys_refuses_secrets(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="this backend keeps no secret key"):
        require_box(None)
    kept = box(tmp_path)
    assert require_box(kept) is kept
