#!/usr/bin/env python3
"""Issue 16, item 1: the Debian packages, built from the tree and installed into a fresh root.

- `dpkg-buildpackage -us -uc -b` builds parcoursd, parcoursctl, libparcours1, libparcours-dev
  and python3-parcours from the files git tracks (a copy: the tree is left as it is);
- lintian finds no error and no warning (the one override is explained in docs/packaging.md);
- in a Debian 12 root made by debootstrap (a chroot), the packages install with their
  dependencies; the daemon's key pair is made there at installation, root's and 0600; the
  packaged example configuration passes `parcoursd -n` (its secret key where systemd's
  LoadCredential= puts it); the library, the pkg-config file and the Python modules are there;
- a reinstallation keeps the admin's edit of the conffile, the partners file and the store;
- a purge with the default answer keeps the store, the partners file and the keys, and removes
  the conffile;
  a purge with the answer yes (preseeded) removes them.

It needs root (debootstrap, chroot; it says SKIPPED without) and a Debian mirror
(PARCOURS_DEBIAN_MIRROR, by default http://deb.debian.org/debian; it fails without).
"""

import glob
import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MIRROR = os.environ.get("PARCOURS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = ("parcoursd", "parcoursctl", "libparcours1", "libparcours-dev", "python3-parcours")


def run(command, **kw):
    return subprocess.run(command, capture_output=True, text=True, **kw)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("debootstrap") and
                     shutil.which("dpkg-buildpackage"), "needs root, debootstrap, dpkg-dev")
class PackagesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="parcours-packages-")
        cls.source = os.path.join(cls.work, "parcours")
        files = run(["git", "-C", ROOT, "ls-files", "-z"], check=True).stdout.split("\0")
        for f in filter(None, files):
            os.makedirs(os.path.dirname(os.path.join(cls.source, f)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, f), os.path.join(cls.source, f))
        cls.build = run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=cls.source, timeout=900)
        cls.debs = {os.path.basename(p).split("_")[0]: p
                    for p in glob.glob(os.path.join(cls.work, "*.deb")) if "-dbgsym" not in p}
        cls.chroot = os.path.join(cls.work, "root")

    @classmethod
    def tearDownClass(cls):
        proc = os.path.join(cls.chroot, "proc")
        if os.path.ismount(proc):
            run(["umount", proc])
        shutil.rmtree(cls.work, ignore_errors=True)

    def inside(self, script, check=True, timeout=600):
        done = run(["chroot", self.chroot, "/bin/sh", "-ec", script], timeout=timeout,
                   env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
                        "LC_ALL": "C.UTF-8"})
        if check:
            self.assertEqual(done.returncode, 0, f"{script}\n{done.stdout}\n{done.stderr}")
        return done

    def test_1_packages_build_and_lintian_is_clean(self):
        self.assertEqual(self.build.returncode, 0, self.build.stdout[-4000:] + self.build.stderr[-4000:])
        self.assertEqual(sorted(self.debs), sorted(PACKAGES))
        changes = glob.glob(os.path.join(self.work, "*.changes"))
        lint = run(["lintian", "--fail-on", "error,warning", *changes], timeout=600)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
        # What each package holds, as the issue lists it.
        contents = {p: run(["dpkg-deb", "-c", d], check=True).stdout for p, d in self.debs.items()}
        for package, needle in (("parcoursd", "./usr/sbin/parcoursd"),
                                ("parcoursd", "./lib/systemd/system/parcoursd.service"),
                                ("parcoursd", "./etc/parcours/parcoursd.conf"),
                                ("parcoursd", "./usr/share/man/man8/parcoursd.8.gz"),
                                ("parcoursd", "./usr/share/man/man5/parcoursd.conf.5.gz"),
                                ("parcoursctl", "./usr/bin/parcoursctl"),
                                ("libparcours1", "libparcours.so.1"),
                                ("libparcours-dev", "/pkgconfig/libparcours.pc"),
                                ("libparcours-dev", "libparcours.a"),
                                ("libparcours-dev", "./usr/include/parcours.h"),
                                ("python3-parcours", "dist-packages/parcours_partner.py"),
                                ("python3-parcours", "./usr/bin/parcours-bridge")):
            self.assertIn(needle, contents[package], package)
        listed = run(["sh", "-c", f"dpkg-deb -e {self.debs['parcoursd']} {self.work}/ctrl && "
                      f"cat {self.work}/ctrl/conffiles"], check=True).stdout.split()
        self.assertEqual(listed, ["/etc/parcours/parcoursd.conf"])
        self.assertIn("symbols", run(["dpkg-deb", "-I", self.debs["libparcours1"]],
                                     check=True).stdout)

    def test_2_install_check_reinstall_and_purge_in_a_fresh_root(self):
        self.assertEqual(self.build.returncode, 0, "the packages did not build")
        boot = run(["debootstrap", "--variant=minbase", "bookworm", self.chroot, MIRROR],
                   timeout=900)
        self.assertEqual(boot.returncode, 0, f"debootstrap from {MIRROR}: {boot.stderr[-800:]}")
        shutil.copy("/etc/resolv.conf", os.path.join(self.chroot, "etc", "resolv.conf"))
        run(["mount", "-t", "proc", "proc", os.path.join(self.chroot, "proc")], check=True)
        # No service starts in the chroot (there is no systemd running there).
        with open(os.path.join(self.chroot, "usr/sbin/policy-rc.d"), "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(os.path.join(self.chroot, "usr/sbin/policy-rc.d"), 0o755)
        os.makedirs(os.path.join(self.chroot, "tmp/debs"), exist_ok=True)
        for d in self.debs.values():
            shutil.copy(d, os.path.join(self.chroot, "tmp/debs"))
        self.inside("apt-get update -q && apt-get install -y -q --no-install-recommends "
                    "/tmp/debs/*.deb pkg-config")

        # The key pair made at installation, root's; the example configuration checks.
        keys = self.inside("stat -c '%U %a %n' /etc/parcours/keys/parcoursd.secret "
                           "/etc/parcours/keys/parcoursd.public /etc/parcours/keys").stdout
        self.assertIn("root 600 /etc/parcours/keys/parcoursd.secret", keys)
        self.assertIn("root 700 /etc/parcours/keys\n", keys)
        check = self.inside(
            "install -d -m 0700 /run/credentials/parcoursd.service && "
            "cp /etc/parcours/keys/parcoursd.secret /etc/parcours/keys/parcoursd.public "
            "/run/credentials/parcoursd.service/ && parcoursd -n -c /etc/parcours/parcoursd.conf")
        self.assertIn("configuration OK", check.stdout + check.stderr)
        self.inside("ldconfig -p | grep -q 'libparcours.so.1 ' && "
                    "pkg-config --exists libparcours && "
                    "python3 -c 'import parcours_partner, parcours_bridge, parcours_pb2' && "
                    "parcours-bridge --help > /dev/null && parcoursctl --version")

        # A store the daemon would have written, and an admin's edit of a conffile.
        self.inside("mkdir -p /var/lib/private/parcours && echo store > /var/lib/private/parcours/data.mdb && "
                    "ln -sfn private/parcours /var/lib/parcours && "
                    "echo '; edited by the admin' >> /etc/parcours/parcoursd.conf && "
                    "echo '; the territory s partners' >> /etc/parcours/partners.ini")
        # Installed again (the path of an upgrade): the edit and the store stay.
        self.inside("dpkg -i --force-confold /tmp/debs/parcoursd_*.deb")
        self.inside("grep -q 'edited by the admin' /etc/parcours/parcoursd.conf && "
                    "grep -q 'the territory s partners' /etc/parcours/partners.ini && "
                    "test -s /var/lib/private/parcours/data.mdb")

        # Purged with the default answer: the configuration goes, the store and keys stay.
        self.inside("apt-get purge -y -q parcoursd")
        self.inside("test ! -e /etc/parcours/parcoursd.conf && "
                    "grep -q 'the territory s partners' /etc/parcours/partners.ini && "
                    "test -s /var/lib/private/parcours/data.mdb && "
                    "test -e /etc/parcours/keys/parcoursd.secret")
        # Installed again, purged with the answer yes: they go too.
        self.inside("dpkg -i /tmp/debs/parcoursd_*.deb && "
                    "echo 'parcoursd parcoursd/purge_store boolean true' | debconf-set-selections &&"
                    " apt-get purge -y -q parcoursd")
        self.inside("test ! -e /var/lib/private/parcours && test ! -e /var/lib/parcours && "
                    "test ! -e /etc/parcours/keys && test ! -e /etc/parcours/partners.ini")


if __name__ == "__main__":
    unittest.main(verbosity=2)
