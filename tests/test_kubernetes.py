"""deploy/kubernetes: the example is rendered as `kubectl apply -k` would render it, and what it would run is run.

- the ConfigMap is generated from rules/ (rules/Kustomization, a kustomize configMapGenerator): the
  render is `kubectl kustomize` (or `kustomize build`) when one is installed; otherwise a small
  renderer here reads the same kustomization files (resources and the generator's `files`), and the
  test says so in its output. The rendered packs are the files of rules/, byte for byte, and pass
  `switchyard check` and `switchyard test` (the packs' own tests);
- a broken pack stops the `check-rules` init container with FILE:LINE:COL (its termination message);
- the manifests validate against the Kubernetes version `make lint` pins, with no network
  (`kubernetes-validate --strict` ships its schemas), and a misspelled field fails;
- the sidecar's settings (SWITCHYARD_* variables) parse as `serve` reads them, bind the API to the
  pod's loopback, fit the termination grace period (the classic sidecar serving while the app shuts
  down), and are what `switchyard trace` reads in the pod to find the admin listener.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import golden_files
import pytest
from ruamel.yaml import YAML

from switchyard.cli.common import admin_server
from switchyard.cli.main import build_parser

ROOT = golden_files.ROOT
BIN = Path(sys.executable).parent
DEPLOY = ROOT / "deploy" / "kubernetes"
MANIFESTS = sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")
# The version `make lint` validates against; the tests use the same one.
KUBERNETES = re.search(r"^KUBERNETES_VERSION \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)


def load(text: str) -> list[dict]:
    return [doc for doc in YAML(typ="safe").load_all(text) if doc]


def kustomization(folder: Path) -> dict:
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        if (folder / name).exists():
            return YAML(typ="safe").load((folder / name).read_text())
    raise FileNotFoundError(f"no kustomization in {folder}")


def small_render(folder: Path) -> list[dict]:
    """What kustomize renders for these files: resources (files and folders with a kustomization), and
    configMapGenerator entries with `files` (key = file name). The name's hash suffix is left out."""
    spec = kustomization(folder)
    out: list[dict] = []
    for resource in spec.get("resources", ()):
        path = folder / resource
        out.extend(small_render(path) if path.is_dir() else load(path.read_text()))
    for generator in spec.get("configMapGenerator", ()):
        data = {Path(f).name: (folder / f).read_text() for f in generator.get("files", ())}
        labels = generator.get("options", {}).get("labels", {})
        meta = {"name": generator["name"], **({"labels": labels} if labels else {})}
        out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
    return out


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    kubectl, kustomize = shutil.which("kubectl"), shutil.which("kustomize")
    command = (
        [kubectl, "kustomize", str(DEPLOY)] if kubectl else [kustomize, "build", str(DEPLOY)] if kustomize else None
    )
    if command is None:
        print("\nneither kubectl nor kustomize is installed: deploy/kubernetes rendered by tests/test_kubernetes.py")
        return small_render(DEPLOY)
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return load(done.stdout)


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def write_packs(config: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in config["data"].items():
        (folder / name).write_text(text)
    return folder


def switchyard(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "switchyard"), *args], capture_output=True, text=True, env=env)


def test_the_configmap_is_the_packs_of_rules_byte_for_byte(rendered) -> None:
    [config] = of_kind(rendered, "ConfigMap")
    assert config["metadata"]["name"].startswith("switchyard-rules")
    shipped = {p.name: p.read_text() for p in (ROOT / "rules").glob("*.yaml")}
    assert config["data"] == shipped


def test_the_generator_lists_every_pack_file_of_rules() -> None:
    """kustomize takes no globs: a pack added to rules/ must be added to rules/Kustomization too."""
    [generator] = kustomization(ROOT / "rules")["configMapGenerator"]
    assert sorted(generator["files"]) == sorted(p.name for p in (ROOT / "rules").glob("*.y*ml"))


def test_the_small_renderer_gives_what_kubectl_gives(rendered) -> None:
    mine = small_render(DEPLOY)
    assert [d["data"] for d in of_kind(mine, "ConfigMap")] == [d["data"] for d in of_kind(rendered, "ConfigMap")]
    assert sorted(d["metadata"]["name"] for d in mine if d["kind"] != "ConfigMap") == sorted(
        d["metadata"]["name"] for d in rendered if d["kind"] != "ConfigMap"
    )


def test_the_rendered_packs_check_and_pass_their_own_tests(rendered, tmp_path) -> None:
    folder = write_packs(of_kind(rendered, "ConfigMap")[0], tmp_path / "rules")
    checked = switchyard("check", str(folder))
    assert checked.returncode == 0 and checked.stdout.strip().endswith("packs OK"), checked.stdout + checked.stderr
    tested = switchyard("test", str(folder))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_deployment_mounts_the_generated_configmap_and_checks_it_first(rendered) -> None:
    [config] = of_kind(rendered, "ConfigMap")
    for deployment in of_kind(rendered, "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        [volume] = [v for v in spec["volumes"] if v["name"] == "rules"]
        assert volume["configMap"]["name"] == config["metadata"]["name"]  # the hashed name: a change rolls out
        check = spec["initContainers"][0]
        assert check["name"] == "check-rules" and check["args"] == ["check", "/etc/switchyard/rules"]
        assert check["terminationMessagePolicy"] == "FallbackToLogsOnError"  # its output in `kubectl describe`


def test_a_broken_pack_fails_the_check_with_file_line_column(rendered, tmp_path) -> None:
    folder = write_packs(of_kind(rendered, "ConfigMap")[0], tmp_path / "rules")
    qwen = folder / "qwen.yaml"
    qwen.write_text(qwen.read_text().replace("- keep:", "- kepp:", 1))
    checked = switchyard("check", str(folder))
    assert checked.returncode == 1
    assert re.match(rf"{re.escape(str(qwen))}:\d+:\d+: .*kepp", checked.stdout), checked.stdout


def sidecar_settings(deployment: dict) -> tuple[dict, dict, dict]:
    """(pod spec, the switchyard container, its SWITCHYARD_* variables)."""
    spec = deployment["spec"]["template"]["spec"]
    [sidecar] = [c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == "switchyard"]
    return spec, sidecar, {e["name"]: e["value"] for e in sidecar.get("env", []) if "value" in e}


def test_the_sidecars_settings_parse_bind_loopback_and_fit_the_grace_period(rendered, monkeypatch) -> None:
    for deployment in of_kind(rendered, "Deployment"):
        spec, sidecar, env = sidecar_settings(deployment)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        args = build_parser().parse_args(sidecar["args"])
        assert args.command == "serve" and args.host == "127.0.0.1" and args.admin_port == 9090 and args.watch
        assert args.rules == "/etc/switchyard/rules" == sidecar["volumeMounts"][0]["mountPath"]
        assert args.grace + args.shutdown_delay < spec["terminationGracePeriodSeconds"]
        assert sidecar["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
        assert sidecar["readinessProbe"]["failureThreshold"] >= 2  # one failed probe is no reason to leave
        assert sidecar["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
        if sidecar.get("restartPolicy") != "Always":
            # A classic sidecar gets SIGTERM with the app: it keeps accepting while the app shuts down.
            assert args.shutdown_delay >= 30
        for name in env:
            monkeypatch.delenv(name)


def test_trace_in_the_pod_finds_the_admin_listener_from_the_sidecars_settings(rendered) -> None:
    for deployment in of_kind(rendered, "Deployment"):
        _, _, env = sidecar_settings(deployment)
        assert admin_server(env) == "http://127.0.0.1:9090"


def test_every_variable_the_packs_need_comes_from_the_secret_the_sidecars_read(rendered, tmp_path) -> None:
    """A `${VAR}` without a default must be set for `serve` to start: the Secret has to carry it."""
    folder = write_packs(of_kind(rendered, "ConfigMap")[0], tmp_path / "rules")
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL", "_ID"))}
    note = switchyard("check", str(folder), env=clean).stderr
    needed = (
        set(re.findall(r"\b[A-Z][A-Z0-9_]+\b", note.split("(serving needs them):")[1])) if "serving" in note else set()
    )
    secrets = {
        m["metadata"]["name"]: set(m.get("stringData", {}) | m.get("data", {})) for m in of_kind(rendered, "Secret")
    }
    for deployment in of_kind(rendered, "Deployment"):
        _, sidecar, env = sidecar_settings(deployment)
        provided = {k for ref in sidecar.get("envFrom", []) for k in secrets[ref["secretRef"]["name"]]} | set(env)
        assert needed <= provided, (deployment["metadata"]["name"], needed - provided)


@pytest.mark.skipif(shutil.which("kubernetes-validate", path=str(BIN)) is None, reason="not installed")
def test_the_manifests_validate_against_the_kubernetes_version_make_lint_uses() -> None:
    assert KUBERNETES.startswith("1.") and int(KUBERNETES.split(".")[1]) >= 37
    cmd = [str(BIN / "kubernetes-validate"), "--strict", "-k", KUBERNETES, *map(str, MANIFESTS)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(f"against version {KUBERNETES.rsplit('.', 1)[0]}") == len(MANIFESTS)


@pytest.mark.skipif(shutil.which("kubernetes-validate", path=str(BIN)) is None, reason="not installed")
def test_the_validation_needs_no_network_and_catches_a_misspelled_field(tmp_path) -> None:
    text = (DEPLOY / "deployment-native-sidecar.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        text.replace("restartPolicy: Always\n", "restartPolicy: Always\n          restartPolicyy: Always\n", 1)
    )
    cmd = [str(BIN / "kubernetes-validate"), "--strict", "-k", KUBERNETES]
    offline = (
        ["unshare", "--net"]
        if subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0
        else []
    )
    good = subprocess.run(
        [*offline, *cmd, str(DEPLOY / "deployment-native-sidecar.yaml")], capture_output=True, text=True
    )
    assert good.returncode == 0, good.stdout + good.stderr
    result = subprocess.run([*offline, *cmd, str(bad)], capture_output=True, text=True)
    assert result.returncode == 1 and "'restartPolicyy' was unexpected" in result.stdout + result.stderr


def test_the_kustomization_lists_every_manifest_and_the_packs() -> None:
    listed = kustomization(DEPLOY)["resources"]
    assert sorted(listed) == sorted([p.name for p in MANIFESTS] + [str(Path("..", "..", "rules"))])
    assert (DEPLOY / listed[0]).resolve() == ROOT / "rules"  # the packs first: the repository's own folder
