"""Every session the project has: tests, backends, isolation, lint, build, demo, benchmarks.

Run through ``./dev`` (which installs nox and uv first) or directly with ``nox -s NAME``.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "tests", "jax", "torch"]

ROOT = pathlib.Path(__file__).parent
PYTHON = "3.11"

# The dependency direction of shared/design/ARCHITECTURE.md (transitively closed): the
# siblings each package needs from the working tree when it is installed alone.
SIBLINGS = {
    "core": [],
    "data": ["core"],
    "models": ["core"],
    "losses": [],
    "train": ["core", "data", "models", "losses"],
    "eval": ["core", "data", "models", "train", "losses"],
}
PACKAGES = list(SIBLINGS)
# vatt-models' tests reload TensorFlow-saved weights on JAX in a subprocess: JAX comes too.
TEST_EXTRAS = {"models": "test,jax"}
# No TF_CPP_MIN_LOG_LEVEL: the CLIs and the demo start TensorFlow quietly themselves
# (vatt.core.quiet), and a preset level would read as the user's choice (the test conftests set it).
ENV = {"UV_COMPILE_BYTECODE": "1", "PYTHONHASHSEED": "0"}
# The PyTorch the `torch` session tests. PyPI's Linux wheel of it is a CUDA build of ~3 GB to
# download; the CPU build (~190 MB) comes from pip's find-links where a machine keeps one.
TORCH = "torch==2.13.0"


def _path(pkg: str, extras: str = "test") -> str:
    return f"{ROOT / 'packages' / f'vatt-{pkg}'}[{extras}]"


def _install_all(session: nox.Session) -> None:
    # ONE install call, so sibling requirements resolve to the working tree, never a registry.
    session.install(*(_path(p, TEST_EXTRAS.get(p, "test")) for p in PACKAGES), env=ENV)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Every package's tests and the examples' on the TensorFlow backend, all packages installed
    together."""
    _install_all(session)
    args = session.posargs or [
        *(f"packages/vatt-{p}/tests" for p in PACKAGES),
        "examples/tests",
        "benchmarks/tests",
    ]
    session.run("pytest", *args, env={**ENV, "KERAS_BACKEND": "tensorflow"})


@nox.session(python=PYTHON)
def jax(session: nox.Session) -> None:
    """The backend-agnostic packages (losses, models) once more on the JAX backend."""
    session.install(
        _path("core"), _path("losses", "test,jax"), _path("models", "test,jax"), env=ENV
    )
    args = session.posargs or ["packages/vatt-losses/tests", "packages/vatt-models/tests"]
    session.run("pytest", *args, env={**ENV, "KERAS_BACKEND": "jax"})


@nox.session(python=PYTHON)
def torch(session: nox.Session) -> None:
    """The backend-agnostic packages (losses, models) once more on the PyTorch backend (CPU)."""
    env = {**ENV, **_pip_find_links()}
    session.install(
        TORCH,
        _path("core"),
        _path("losses", "test,torch"),
        _path("models", "test,jax,torch"),
        env=env,
    )
    args = session.posargs or ["packages/vatt-losses/tests", "packages/vatt-models/tests"]
    session.run("pytest", *args, env={**ENV, "KERAS_BACKEND": "torch"})


def _pip_find_links() -> dict[str, str]:
    """pip's find-links (its environment and config files) for uv, which reads neither.

    A machine that keeps wheels on disk, such as a CPU build of PyTorch, lends them to uv;
    elsewhere (or without pip) uv takes everything from PyPI.
    """
    try:
        listing = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    links: list[str] = []
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        if key.endswith(".find-links"):
            links += [link for link in value.strip("'\"").split() if link not in links]
    return {"UV_FIND_LINKS": ",".join(links)} if links else {}


@nox.session(python=PYTHON)
@nox.parametrize("package", PACKAGES)
def isolated(session: nox.Session, package: str) -> None:
    """Build one package's wheel, install it alone (plus declared siblings), import it, test it."""
    session.install("build", env=ENV)
    with tempfile.TemporaryDirectory() as out:
        session.run("uv", "build", "--wheel", "-o", out, f"packages/vatt-{package}", env=ENV)
        (wheel,) = pathlib.Path(out).glob("*.whl")
        siblings = [_path(s, "test") for s in SIBLINGS[package]]
        session.install(f"{wheel}[{TEST_EXTRAS.get(package, 'test')}]", *siblings, env=ENV)
    session.run("python", "-c", f"import vatt.{package}; print(vatt.{package}.__version__)")
    session.run("pytest", f"packages/vatt-{package}/tests", *session.posargs, env=ENV)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole tree."""
    session.install("ruff>=0.17,<0.18", env=ENV)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """sdist and wheel of every package into dist/, checked with twine."""
    session.install("twine>=5", env=ENV)
    dist = ROOT / "dist"
    for pkg in PACKAGES:
        session.run("uv", "build", "-o", str(dist), f"packages/vatt-{pkg}", env=ENV)
    session.run("twine", "check", "--strict", *map(str, sorted(dist.glob("vatt_*"))))


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The main job (examples/demo.py): the end-to-end VATT workflow on the built-in synthetic
    dataset."""
    _install_all(session)
    session.chdir(session.invoked_from)  # `nox -f PATH -s demo -- --out DIR`: DIR is the caller's
    session.run("python", str(ROOT / "examples" / "demo.py"), *session.posargs, env=ENV)


@nox.session(python=PYTHON)
def bench_data(session: nox.Session) -> None:
    """Pretraining-loader throughput against the JPEG-decode floor on the same records."""
    session.install(_path("data"), env=ENV)
    session.run("python", str(ROOT / "benchmarks" / "bench_data.py"), *session.posargs, env=ENV)


@nox.session(python=PYTHON)
def bench_step(session: nox.Session) -> None:
    """The whole training step of an arch (``-- --arch tx_fac_bbs --peak_tflops N``): clips/s, MFU.

    Runs on the backend of ``KERAS_BACKEND`` (tensorflow by default; jax or torch too).
    """
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    extras = {"jax": "test,jax", "torch": "test,torch"}.get(backend, "test")
    session.install(_path("models", extras), _path("losses", extras), env=ENV)
    session.run(
        "python",
        str(ROOT / "benchmarks" / "bench_step.py"),
        *session.posargs,
        env={**ENV, "KERAS_BACKEND": backend},
    )
