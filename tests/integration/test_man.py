#!/usr/bin/env python3
"""The man pages: each one formats without a groff warning, documents everything the programs
print about themselves (every key of parcoursd --config-reference, every option of
parcoursd --help, every command and option of parcoursctl --help), its example configuration
passes parcoursd -n, and cmake --install puts the three pages where man looks for them."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import zmq

PARCOURSD = os.environ["PARCOURSD"]
PARCOURSCTL = os.environ.get("PARCOURSCTL", "")
SOURCE = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The binary is <build>/daemon/parcoursd: the build tree to install from.
BUILD = os.path.dirname(os.path.dirname(os.path.abspath(PARCOURSD)))

PAGES = {
    "parcoursd.8": os.path.join(SOURCE, "daemon", "parcoursd.8"),
    "parcoursd.conf.5": os.path.join(SOURCE, "daemon", "parcoursd.conf.5"),
    "parcoursctl.1": os.path.join(SOURCE, "clients", "parcoursctl", "parcoursctl.1"),
}


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, **kwargs)


def groff(page_text, device="utf8"):
    """Formats a page with every warning on; returns the completed process, its output as
    plain text (no bold or underline overstrikes)."""
    return run(["groff", "-man", "-t", "-ww", f"-T{device}", "-P-cbu"], input=page_text)


def plain(line):
    """A roff line as text: no request name, no font or spacing escapes, no quotes."""
    line = re.sub(r"^\.[A-Z]{1,2}\b ?", "", line)
    line = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", line)
    line = line.replace("\\-", "-").replace("\\~", " ").replace("\\ ", " ")
    line = re.sub(r"\\[&%:c]", "", line)
    line = line.replace("\\(em", "-").replace("\\(aq", "'").replace("\\e", "\\")
    return line.replace('"', "")


def sections(page_text):
    """{SH title: [(SS title, [TP tag...])...]}: where each .TP entry is, tags as plain text."""
    out, sh, ss = {}, None, None
    lines = page_text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(".SH "):
            sh, ss = plain(line).strip(), None
            out.setdefault(sh, [])
        elif line.startswith(".SS "):
            ss = plain(line).strip()
        elif line.startswith(".TP") and sh is not None and i + 1 < len(lines):
            tag = plain(lines[i + 1]).strip()
            entries = out[sh]
            if not entries or entries[-1][0] != ss:
                entries.append((ss, []))
            entries[-1][1].append(tag)
    return out


def entry_text(page_text, subsection, tag_word):
    """The plain text of the .TP entry of subsection whose tag starts with tag_word."""
    lines = page_text.splitlines()
    ss, i = None, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(".SS "):
            ss = plain(line).strip()
        if (ss == subsection and line.startswith(".TP") and i + 1 < len(lines)
                and plain(lines[i + 1]).split()[:1] == [tag_word]):
            body = []
            for following in lines[i + 1:]:
                if re.match(r"\.(TP|SS|SH|PP)\b", following):
                    break
                body.append(plain(following))
            return " ".join(body)
        i += 1
    return None


def config_reference():
    """[(section, key, type, default)] from parcoursd --config-reference."""
    text = run([PARCOURSD, "--config-reference"], check=True).stdout
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"\[\w+\]", cells[0]):
            rows.append((cells[0].strip("[]"), cells[1], cells[2], cells[3]))
    return rows


def help_options(text):
    """Every option a help text names: -x and --long-name, as words of their own."""
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", text))


def ctl_help():
    return run([PARCOURSCTL, "--help"], check=True).stdout


def ctl_commands(help_text):
    """The commands of parcoursctl --help: the first word of each line indented by exactly
    two spaces in the block that starts with `commands:` and ends at the first blank line."""
    commands, inside = [], False
    for line in help_text.splitlines():
        if re.match(r"^commands?:\s*$", line):
            inside = True
        elif inside and not line.strip():
            break
        elif inside and re.match(r"^  \S", line):
            commands.append(line.split()[0])
    return commands


def ctl_options_block(help_text):
    """The text of parcoursctl --help's options block."""
    match = re.search(r"^options[^\n]*:\n(.*?)(?:\n\n|\Z)", help_text, re.S | re.M)
    return match.group(1) if match else ""


class ManPagesTest(unittest.TestCase):
    def read(self, name):
        with open(PAGES[name]) as f:
            return f.read()

    # Formatting.

    def test_pages_format_without_warnings(self):
        for name in PAGES:
            for device in ("utf8", "ascii"):
                with self.subTest(page=name, device=device):
                    done = groff(self.read(name), device)
                    self.assertEqual(done.returncode, 0, done.stderr)
                    self.assertEqual(done.stderr, "", f"groff warns about {name}")
                    self.assertIn("NAME", done.stdout)
                    self.assertIn("SEE ALSO", done.stdout)

    def test_a_warning_is_caught(self):
        """The check above would see a broken page: a macro that does not exist."""
        broken = self.read("parcoursd.8").replace(".SH OPTIONS", ".SH OPTIONS\n.XQ oops", 1)
        self.assertNotEqual(groff(broken).stderr, "")

    # parcoursd.conf(5).

    def test_conf_page_documents_every_key(self):
        page = self.read("parcoursd.conf.5")
        rows = config_reference()
        self.assertGreaterEqual(len(rows), 10, "parcoursd --config-reference printed no table")
        documented = {ss: tags for ss, tags in sections(page).get("KEYS", [])}
        for section, key, type_name, default in rows:
            with self.subTest(key=f"[{section}] {key}"):
                subsection = next((ss for ss in documented
                                   if ss is not None and ss.startswith(f"[{section}]")), None)
                self.assertIsNotNone(subsection, f"no .SS [{section}] under KEYS")
                self.assertIn(key, [t.split()[0] for t in documented[subsection] if t],
                              f"[{section}] {key} has no .TP entry in parcoursd.conf.5")
                text = entry_text(page, subsection, key)
                self.assertIn(f"Type {type_name}", text)
                if default != "(none)":
                    self.assertRegex(text, rf"default {re.escape(default)}\b",
                                     f"[{section}] {key}: the default is not {default}")
                else:
                    self.assertIn("no default", text)

    def test_conf_page_documents_only_real_keys(self):
        page = self.read("parcoursd.conf.5")
        real = {(s, k) for s, k, _, _ in config_reference()}
        for subsection, tags in sections(page).get("KEYS", []):
            section = re.match(r"\[(\w+)\]", subsection or "")
            self.assertIsNotNone(section, f"{subsection!r} is not a [section] under KEYS")
            for tag in tags:
                self.assertIn((section.group(1), tag.split()[0]), real,
                              f"parcoursd.conf.5 documents [{section.group(1)}] {tag}")

    @staticmethod
    def write_conf(folder, text):
        path = os.path.join(folder, "parcoursd.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_conf_page_example_is_a_valid_configuration(self):
        """The EXAMPLE's configuration and partners file, as a reader copies them, pass
        parcoursd -n."""
        page = self.read("parcoursd.conf.5")
        example = page[page.index(".SH EXAMPLE"):]
        example = example[:example.index("\n.SH ", 1)]
        code = ["".join(plain(line) + "\n" for line in block.splitlines())
                for block in re.findall(r"^\.EX\n(.*?)^\.EE$", example, re.S | re.M)]
        conf = next(c for c in code if c.startswith("[store]"))
        partners = next(c for c in code if "kind =" in c)
        folder = tempfile.mkdtemp(prefix="parcours-man-")
        try:
            with open(os.path.join(folder, "partners.ini"), "w") as f:
                f.write(partners)
            conf = conf.replace("/etc/parcours/partners.ini", "partners.ini")
            # -n reads the key as a start does: the reader's is in the service's credentials,
            # this one is made here.
            credential = "/run/credentials/parcoursd.service/parcoursd.secret"
            self.assertIn(credential, conf)
            done = run([PARCOURSD, "-n", "-c", self.write_conf(folder, conf)])
            self.assertIn("a systemd credential exists only inside its service", done.stderr)
            secret = os.path.join(folder, "parcoursd.secret")
            fd = os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, zmq.curve_keypair()[1] + b"\n")
            os.close(fd)
            conf = conf.replace(credential, secret)
            with open(os.path.join(folder, "parcoursd.conf"), "w") as f:
                f.write(conf)
            done = run([PARCOURSD, "-n", "-c", os.path.join(folder, "parcoursd.conf")])
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertRegex(done.stdout, r"^configuration OK \(\d+ partners\)")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # parcoursd(8).

    def test_daemon_page_documents_every_option(self):
        page = self.read("parcoursd.8")
        usage = run([PARCOURSD, "--help"], check=True).stdout
        options = help_options(usage)
        self.assertTrue({"-c", "-n", "--config-reference"} <= options, usage)
        tags = [t for _, ts in sections(page).get("OPTIONS", []) for t in ts]
        tagged = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", " ".join(tags)))
        for option in options:
            with self.subTest(option=option):
                self.assertIn(option, tagged, f"parcoursd.8 has no OPTIONS entry for {option}")

    def test_daemon_page_has_its_sections(self):
        titles = sections(self.read("parcoursd.8"))
        for title in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SIGNALS", "SYSTEMD", "HTTP",
                      "FILES", "EXIT STATUS", "BACKUP AND RESTORE", "SEE ALSO"):
            self.assertIn(title, titles)

    # parcoursctl(1).

    def test_ctl_page_documents_every_command(self):
        page = self.read("parcoursctl.1")
        usage = ctl_help()
        commands = ctl_commands(usage)
        self.assertTrue({"status", "show", "emit", "tail", "keygen"} <= set(commands), usage)
        tags = [t.split()[0] for _, ts in sections(page).get("COMMANDS", []) for t in ts if t]
        for command in commands + ["backup"]:
            with self.subTest(command=command):
                self.assertIn(command, tags, f"parcoursctl.1 has no COMMANDS entry for {command}")

    def test_ctl_page_documents_every_option(self):
        page = self.read("parcoursctl.1")
        options = help_options(ctl_options_block(ctl_help()))
        self.assertTrue({"-c", "--config", "--key", "--keys", "--server-key"} <= options)
        tags = " ".join(t for _, ts in sections(page).get("OPTIONS", []) for t in ts)
        tagged = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", tags))
        for option in options:
            with self.subTest(option=option):
                self.assertIn(option, tagged, f"parcoursctl.1 has no OPTIONS entry for {option}")

    def test_ctl_page_documents_every_exit_code(self):
        page = self.read("parcoursctl.1")
        line = re.search(r"exit codes?:(.*)", ctl_help())
        self.assertIsNotNone(line)
        codes = re.findall(r"\b(\d+) ", line.group(1))
        self.assertEqual(codes, ["0", "1", "2", "3"])
        tags = [t for _, ts in sections(page).get("EXIT STATUS", []) for t in ts]
        self.assertEqual(tags, codes)

    # Installation.

    def test_cmake_install_puts_the_pages_in_the_man_folders(self):
        self.assertTrue(os.path.exists(os.path.join(BUILD, "CMakeCache.txt")),
                        f"{BUILD} is not the build tree of {PARCOURSD}")
        cmake = "cmake"
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_COMMAND:"):
                    cmake = line.split("=", 1)[1].strip()
        prefix = tempfile.mkdtemp(prefix="parcours-man-install-")
        try:
            done = run([cmake, "--install", BUILD, "--prefix", prefix])
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
            for name, section in (("parcoursd.8", "man8"), ("parcoursd.conf.5", "man5"),
                                  ("parcoursctl.1", "man1")):
                with self.subTest(page=name):
                    installed = os.path.join(prefix, "share", "man", section, name)
                    self.assertTrue(os.path.isfile(installed), f"{installed} is missing")
                    with open(installed) as f:
                        self.assertEqual(f.read(), self.read(name))
        finally:
            shutil.rmtree(prefix, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
