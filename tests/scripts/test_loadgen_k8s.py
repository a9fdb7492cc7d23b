"""scripts/loadgen-k8s: the Indexed Job it renders, its refusals, kubectl's offline validation of
the manifest, and collect's path from pod logs to merged.json. The logs collect reads come from
a fake kubectl, but they are real: the rendered pods' own command, run here for 2 shares against
a reference_server on loopback."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import launch_fixture
from launch_fixture import ROOT, SHARES

SCRIPT = os.path.join(ROOT, "scripts", "loadgen-k8s")
INDEX = "$(JOB_COMPLETION_INDEX)"
# A short load is done within seconds; everything here is bounded well above that.
RUN_TIMEOUT_S = 60

FAKE_KUBECTL = """\
import json, os, sys
state = os.environ["FAKE_KUBECTL_STATE"]
args = sys.argv[1:]
with open(os.path.join(state, "calls"), "a") as calls:
    calls.write(json.dumps(args) + "\\n")
if args[:2] == ["--namespace", "bench"]:
    args = args[2:]
if args[:2] == ["get", "job"]:
    print(open(os.path.join(state, "job.json")).read())
elif args[:2] == ["get", "pods"]:
    print(open(os.path.join(state, "pods.json")).read())
elif args[0] == "logs":
    sys.stdout.write(open(os.path.join(state, args[1] + ".log")).read())
else:
    sys.exit("fake kubectl: not expected: " + " ".join(args))
"""


def loadgen_k8s(*args, env=None):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, env=env)


def render(*args, flags=("--target", "10.1.2.3:9090")):
    run = loadgen_k8s("render", *args, "-o", "json", "--", *flags)
    if run.returncode != 0:
        raise AssertionError(run.stderr)
    return json.loads(run.stdout)


def container(manifest):
    return manifest["spec"]["template"]["spec"]["containers"][0]


def kubelet_expand(text, env):
    """What kubelet makes of TEXT in command and args: $(VAR) of the env, "$$" -> "$"."""
    out, i = [], 0
    while i < len(text):
        end = text.find(")", i)
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and end != -1 and text[i + 2:end] in env:
            out.append(env[text[i + 2:end]])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def kubectl_minor():
    """kubectl's client minor version, or None without kubectl."""
    if shutil.which("kubectl") is None:
        return None
    out = subprocess.run(["kubectl", "version", "--client", "-o", "json"], capture_output=True,
                         text=True, timeout=RUN_TIMEOUT_S, env=dict(os.environ,
                                                                    KUBECONFIG=os.devnull))
    return int(json.loads(out.stdout)["clientVersion"]["minor"].rstrip("+"))


class Render(unittest.TestCase):
    def test_three_agents_make_an_indexed_job_with_one_start(self):
        start = f"{time.time() + 600:.1f}"
        flags = ("--target", "10.1.2.3:9090", "-c", "30", "--rate", "3000", "--request", "a $x")
        manifest = render("--agents", "3", "--image", "reg/loadgen:1", "--start-at", start,
                          "--namespace", "bench", flags=flags)
        spec = manifest["spec"]
        self.assertEqual((manifest["apiVersion"], manifest["kind"]), ("batch/v1", "Job"))
        self.assertEqual(manifest["metadata"]["namespace"], "bench")
        self.assertEqual(spec["completionMode"], "Indexed")
        self.assertEqual((spec["completions"], spec["parallelism"], spec["backoffLimit"]),
                         (3, 3, 0))
        pod = spec["template"]["spec"]
        self.assertEqual(pod["restartPolicy"], "Never")
        preferred = pod["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"]
        self.assertEqual(preferred[0]["podAffinityTerm"]["topologyKey"],
                         "kubernetes.io/hostname")
        args = container(manifest)["args"]
        # The flags as given ("$" kept from kubelet), then the share's own.
        self.assertEqual(args, ["run", "--target", "10.1.2.3:9090", "-c", "30", "--rate", "3000",
                                "--request", "a $$x", "--segment", f"{INDEX}/3",
                                "--start-at", start])
        self.assertEqual(container(manifest)["image"], "reg/loadgen:1")

    def test_start_in_is_one_start_that_far_ahead(self):
        before = time.time()
        args = container(render("--agents", "2", "--image", "i", "--start-in", "120"))["args"]
        self.assertEqual(args.count("--start-at"), 1)
        start = float(args[args.index("--start-at") + 1])
        self.assertGreaterEqual(start, before + 120)
        self.assertLessEqual(start, time.time() + 121)

    def test_bad_input_is_refused_with_exit_2(self):
        common = ["--image", "i", "--start-in", "60"]
        cases = {
            "--agents 0": (["--agents", "0"] + common, ["--target", "h:1"]),
            "--target HOST:PORT is required": (["--agents", "2"] + common, ["-c", "4"]),
            "--segment": (["--agents", "2"] + common, ["--target", "h:1", "--segment", "0/2"]),
            "--start-at": (["--agents", "2"] + common, ["-t", "h:1", "--start-at", "1"]),
            "--json": (["--agents", "2"] + common, ["--target=h:1", "--json=x.json"]),
            "already past": (["--agents", "2", "--image", "i", "--start-at",
                              "2020-01-01T00:00:00Z"], ["--target", "h:1"]),
            "--name": (["--agents", "2", "--name", "Bad_Name"] + common, ["--target", "h:1"]),
            "24 hours": (["--agents", "2", "--image", "i", "--start-in", str(25 * 3600)],
                         ["--target", "h:1"]),
        }
        for expected, (args, flags) in cases.items():
            with self.subTest(expected):
                run = loadgen_k8s("render", *args, "--", *flags)
                self.assertEqual(run.returncode, 2, run.stderr)
                self.assertIn(expected, run.stderr)
                self.assertEqual(run.stdout, "")


@unittest.skipIf(kubectl_minor() is None, "no kubectl installed: the offline validation needs it")
class OfflineValidation(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.TemporaryDirectory()
        self.addCleanup(self.work.cleanup)

    def rendered(self, output, edit=lambda text: text):
        run = loadgen_k8s("render", "--agents", "3", "--image", "reg/loadgen:1", "--start-in",
                          "600", "-o", output, "--", "--target", "10.1.2.3:9090", "--request",
                          "x $(y) {}")
        path = os.path.join(self.work.name, f"job.{output}")
        with open(path, "w") as f:
            f.write(edit(run.stdout))
        return path

    def test_the_rendered_manifest_validates(self):
        run = loadgen_k8s("validate", self.rendered("yaml"))
        if kubectl_minor() < 21:
            # Indexed Jobs came with Kubernetes 1.21: an older kubectl drops completionMode,
            # and only it.
            self.assertEqual(run.returncode, 1, run.stdout)
            self.assertEqual(run.stderr.count("\n"), 1, run.stderr)
            self.assertIn("spec.completionMode: not a field of batch/v1 Job", run.stderr)
        else:
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertIn("valid offline", run.stdout)

    def test_kubectl_reads_the_yaml_as_the_json(self):
        yaml_path, json_path = self.rendered("yaml"), self.rendered("json")
        parsed = []
        for path in (yaml_path, json_path):
            out = subprocess.run(["kubectl", "annotate", "--local", "-f", path, "a=b", "-o",
                                  "json"], capture_output=True, text=True, check=True,
                                 timeout=RUN_TIMEOUT_S, env=dict(os.environ,
                                                                 KUBECONFIG=os.devnull))
            document = json.loads(out.stdout)
            container(document)["args"].pop()  # the start: rendered twice, a second apart
            parsed.append(document)
        self.assertEqual(parsed[0], parsed[1])

    def test_a_misspelt_field_and_a_retrying_job_are_invalid(self):
        cases = {"spec.backofLimit": lambda text: text.replace("backoffLimit", "backofLimit"),
                 "backoffLimit must be 0": lambda text: text.replace("backoffLimit: 0",
                                                                      "backoffLimit: 2")}
        for expected, edit in cases.items():
            with self.subTest(expected):
                run = loadgen_k8s("validate", self.rendered("yaml", edit))
                self.assertEqual(run.returncode, 1, run.stdout)
                self.assertIn(expected, run.stderr)


@unittest.skipIf(launch_fixture.build_dir() is None, "no built loadgen and reference_server")
class Collect(unittest.TestCase):
    def setUp(self):
        self.build = launch_fixture.build_dir()
        self.work = tempfile.mkdtemp(prefix="loadgen-k8s-test-")
        self.addCleanup(shutil.rmtree, self.work)
        self.state = os.path.join(self.work, "kubectl-state")
        bin_dir = os.path.join(self.work, "bin")
        for path in (self.state, bin_dir):
            os.makedirs(path)
        with open(os.path.join(bin_dir, "kubectl"), "w") as fake:
            fake.write(f"#!{sys.executable}\n{FAKE_KUBECTL}")
        os.chmod(os.path.join(bin_dir, "kubectl"), 0o755)
        os.symlink(launch_fixture.binary(self.build, "loadgen"), os.path.join(bin_dir, "loadgen"))
        self.path = bin_dir + os.pathsep + os.environ.get("PATH", "")

    def record_pod_logs(self, manifest):
        """Runs every pod's command as kubelet would, at once; writes the fake cluster's state."""
        spec = container(manifest)
        pods, items = [], []
        for index in range(SHARES):
            env = dict(os.environ, PATH=self.path, JOB_COMPLETION_INDEX=str(index),
                       RESULT_DIR=os.path.join(self.work, "results"))
            argv = [kubelet_expand(word, env) for word in spec["command"] + spec["args"]]
            log = open(os.path.join(self.state, f"job-{index}-x.log"), "w")
            pods.append((subprocess.Popen(argv, stdout=log, env=env), log))
            items.append({"metadata": {"name": f"job-{index}-x", "annotations": {
                "batch.kubernetes.io/job-completion-index": str(index)}}})
        for pod, log in pods:
            self.assertEqual(pod.wait(RUN_TIMEOUT_S), 0)
            log.close()
        job = {"spec": manifest["spec"],
               "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
        for name, document in (("job.json", job), ("pods.json", {"items": items})):
            with open(os.path.join(self.state, name), "w") as f:
                json.dump(document, f)

    def test_results_in_the_pod_logs_are_extracted_and_merged(self):
        server = launch_fixture.ReferenceServer(self.build)
        self.addCleanup(server.stop)
        manifest = render("--agents", str(SHARES), "--image", "i", "--start-in", "2", "--name",
                          "job", "--namespace", "bench",
                          flags=launch_fixture.run_flags(server.port))
        self.record_pod_logs(manifest)
        out = os.path.join(self.work, "out")
        env = dict(os.environ, PATH=self.path, FAKE_KUBECTL_STATE=self.state)
        run = loadgen_k8s("collect", "--name", "job", "--namespace", "bench", "--out", out,
                          "--timeout", "30", "--loadgen",
                          launch_fixture.binary(self.build, "loadgen"), env=env)
        self.assertEqual(run.returncode, 0, run.stderr)
        launch_fixture.check_merged_shares(self, out)
        with open(os.path.join(self.state, "calls")) as calls:
            self.assertTrue(all(json.loads(call)[:2] == ["--namespace", "bench"]
                                for call in calls))

    def test_a_log_without_a_result_fails_the_collect(self):
        with open(os.path.join(self.state, "job.json"), "w") as f:
            json.dump({"spec": {"completions": 1}, "status": {"conditions": [
                {"type": "Failed", "status": "True"}]}}, f)
        with open(os.path.join(self.state, "pods.json"), "w") as f:
            json.dump({"items": [{"metadata": {"name": "p0", "annotations": {
                "batch.kubernetes.io/job-completion-index": "0"}}}]}, f)
        with open(os.path.join(self.state, "p0.log"), "w") as f:
            f.write("loadgen run: nothing reachable at --target\n")
        env = dict(os.environ, PATH=self.path, FAKE_KUBECTL_STATE=self.state)
        run = loadgen_k8s("collect", "--out", os.path.join(self.work, "out"), "--timeout", "30",
                          "--loadgen", launch_fixture.binary(self.build, "loadgen"), env=env)
        self.assertEqual(run.returncode, 1)
        self.assertIn("index 0: pod p0's log has no complete result", run.stderr)
        self.assertIn("failed", run.stderr)


if __name__ == "__main__":
    unittest.main()
