"""scripts/loadgen-ssh end to end on one machine: a private sshd on 127.0.0.1 (its own host key,
authorized key and pid file, all in a temporary directory), two logins to it in an
sshloginfile, 2 shares of a small load against a reference_server on loopback, their results
fetched back by GNU parallel and merged."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import launch_fixture
from launch_fixture import ROOT

SCRIPT = os.path.join(ROOT, "scripts", "loadgen-ssh")
SSHD = "/usr/sbin/sshd"
# Two shares of a 1.2 s load and two logins are done within seconds; bounded well above that.
RUN_TIMEOUT_S = 90


def missing_prerequisite():
    if os.geteuid() != 0:
        return "not root: the private sshd must log in as the user it runs as (root here)"
    for program in (SSHD, "ssh", "ssh-keygen", "parallel", "rsync"):
        if shutil.which(program) is None:
            return f"{program} is not installed (scripts/install-deps)"
    if launch_fixture.build_dir() is None:
        return "no built loadgen and reference_server"
    return None


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateSshd:
    """sshd -D on 127.0.0.1 and a free port, accepting one fresh key, stopped by PID."""

    def __init__(self, work):
        self.key = os.path.join(work, "user_key")
        for key in (os.path.join(work, "host_key"), self.key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key],
                           check=True, timeout=30)
        shutil.copy(self.key + ".pub", os.path.join(work, "authorized_keys"))
        self.port = free_port()
        config = os.path.join(work, "sshd_config")
        with open(config, "w") as f:
            f.write(f"ListenAddress 127.0.0.1\nPort {self.port}\n"
                    f"HostKey {work}/host_key\nPidFile {work}/sshd.pid\n"
                    f"AuthorizedKeysFile {work}/authorized_keys\nStrictModes no\n"
                    "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                    "PermitRootLogin prohibit-password\nUsePAM no\n")
        # sshd refuses to start without its privilege separation directory (the ssh service
        # makes it at boot; no service runs here).
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.log = open(os.path.join(work, "sshd.log"), "w")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", config], stderr=self.log)
        self._wait_for_listener()

    def _wait_for_listener(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"sshd exited with {self.proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("sshd did not listen within 10 s")

    def login(self, host):
        """A GNU parallel sshlogin: the ssh command and the host."""
        return (f"ssh -p {self.port} -i {self.key} -o BatchMode=yes -o StrictHostKeyChecking=no "
                f"-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@{host}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@unittest.skipIf(missing_prerequisite(), missing_prerequisite())
class SshShares(unittest.TestCase):
    def setUp(self):
        self.build = launch_fixture.build_dir()
        self.loadgen = launch_fixture.binary(self.build, "loadgen")
        self.work = tempfile.mkdtemp(prefix="loadgen-ssh-test-")
        self.addCleanup(shutil.rmtree, self.work)
        self.sshd = PrivateSshd(self.work)
        self.addCleanup(self.sshd.stop)
        self.server = launch_fixture.ReferenceServer(self.build)
        self.addCleanup(self.server.stop)

    def loadgen_ssh(self, logins, *args):
        sshloginfile = os.path.join(self.work, "sshloginfile")
        with open(sshloginfile, "w") as f:
            f.write("# two logins to one private sshd\n" + "".join(f"{l}\n" for l in logins))
        # GNU parallel keeps its cache under $HOME: the temporary directory's.
        env = dict(os.environ, HOME=self.work)
        return subprocess.run(
            [sys.executable, SCRIPT, "--sshloginfile", sshloginfile,
             "--remote-loadgen", self.loadgen, "--loadgen", self.loadgen, "--timeout", "60",
             *args, "--", *launch_fixture.run_flags(self.server.port)],
            capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env)

    def test_two_logins_run_two_shares_that_merge(self):
        out = os.path.join(self.work, "out")
        run = self.loadgen_ssh([self.sshd.login("127.0.0.1"), self.sshd.login("localhost")],
                               "--out", out, "--start-in", "3")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("share 0\t", run.stdout)
        self.assertIn("share 1\t", run.stdout)
        launch_fixture.check_merged_shares(self, out)

    def test_a_failed_login_fails_the_run_and_merges_nothing(self):
        out = os.path.join(self.work, "out")
        wrong_port = self.sshd.login("127.0.0.1").replace(f"-p {self.sshd.port}",
                                                          f"-p {free_port()}")
        run = self.loadgen_ssh([self.sshd.login("127.0.0.1"), wrong_port], "--out", out,
                               "--start-in", "3")
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertRegex(run.stderr, "share [01] on .*: no share-[01].json came back")
        self.assertFalse(os.path.exists(os.path.join(out, "merged.json")))

    def test_bad_input_is_refused_with_exit_2(self):
        out = os.path.join(self.work, "out")
        for args, expected in ((["--agents", "0"], "--agents 0"),
                               (["--start-at", "1"], "already past")):
            with self.subTest(expected):
                run = self.loadgen_ssh([self.sshd.login("127.0.0.1")], "--out", out, *args)
                self.assertEqual(run.returncode, 2, run.stderr)
                self.assertIn(expected, run.stderr)


if __name__ == "__main__":
    unittest.main()
