"""Two deploys into one target take turns (real CLI processes); the lock file left is harmless."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from envstacks.frontends.cli import main
from envstacks.stages.deploying.deploy_record import LOCK_PATH, load_state
from kits.layers import FRAMEWORK, RUNTIME

NAMES = {RUNTIME, FRAMEWORK, "app-one", "app-two@2"}

#: Holds a target's deploy lock (as a running deploy does) until its stdin closes.
HOLD_DEPLOY_LOCK = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from envstacks.floor.folderlock import hold
    from envstacks.floor.report import NullReporter

    with hold(Path(sys.argv[1]), verb="deploy", reporter=NullReporter(), lock_file=sys.argv[2]):
        print("held", flush=True)
        sys.stdin.readline()
    """
)


def _cli_deploy(source: Path, target: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "envstacks", "deploy", str(source), "--target", str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_deploys_at_once_take_turns(publish_layers_to, tmp_path):
    output = publish_layers_to(tmp_path / "dist")
    target = tmp_path / "deployed"

    runs = [_cli_deploy(output, target) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    installed = [line for out, _ in outputs for line in out.splitlines() if "installed" in line]
    reused = [line for out, _ in outputs for line in out.splitlines() if "up to date" in line]
    assert len(installed) == 4 and len(reused) == 4  # one installed all, the other reused all
    assert {name: r.state for name, r in load_state(target).items()} == dict.fromkeys(
        NAMES, "installed"
    )


def test_a_deploy_waits_visibly_for_a_running_one(publish_layers_to, tmp_path):
    output = publish_layers_to(tmp_path / "dist")
    target = tmp_path / "deployed"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_DEPLOY_LOCK, str(target), LOCK_PATH],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    waiter = _cli_deploy(output, target)
    assert waiter.stderr is not None
    seen = ""
    deadline = time.monotonic() + 60
    while "waiting for it to finish" not in seen and time.monotonic() < deadline:
        seen += waiter.stderr.readline()
    assert (
        f"another deploy (process {holder.pid}) is running in {target}; waiting for it to finish"
        in seen
    )
    assert not load_state(target)  # nothing done while the other runs
    holder.communicate("go\n", timeout=30)
    out, _ = waiter.communicate(timeout=120)
    assert waiter.returncode == 0
    assert out.count("installed: ") == 4


def test_a_lock_file_left_by_a_failed_deploy_is_harmless(publish_layers_to, tmp_path, capsys):
    output = publish_layers_to(tmp_path / "dist")
    target = tmp_path / "deployed"
    (target / LOCK_PATH).parent.mkdir(parents=True)
    (target / LOCK_PATH).write_text('{"pid": 1, "verb": "deploy"}\n')  # as a killed deploy left

    assert main(["deploy", str(output), "--target", str(target)]) == 0

    assert "waiting" not in capsys.readouterr().err
    assert (target / LOCK_PATH).read_text() == ""  # the finished deploy cleared its name
