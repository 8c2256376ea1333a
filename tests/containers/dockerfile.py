"""Reading a Dockerfile and its .dockerignore, and replaying its build without a Docker engine.

The replay does what `docker build` would, as far as a Python service's image goes: copy the
files each COPY names out of the build context (with .dockerignore applied) into a directory
that stands for the image's root filesystem, and run each RUN (a single `uv ...` command) there
with the stage's ENV. What the replay cannot reproduce it refuses loudly instead of skipping,
so a Dockerfile that grows a step nobody taught it fails the test rather than passing untested.

Two things come from the host instead of the image: the `uv` binary (the image copies it from
the pinned ghcr.io/astral-sh/uv stage) and the Python 3.12 interpreter (the image's base).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

# PATH of the official python images before ENV changes it.
BASE_IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
UV_IMAGE = re.compile(r"^ghcr\.io/astral-sh/uv:(\d+\.\d+\.\d+)$")
# Host variables a uv step may need to reach the package index (certificates, proxies, mirrors).
NETWORK_ENV = re.compile(
    r"^(SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE|(HTTPS?|ALL|NO)_PROXY"
    r"|UV_INDEX_URL|UV_DEFAULT_INDEX|UV_EXTRA_INDEX_URL|UV_NATIVE_TLS|UV_CACHE_DIR|HOME)$",
    re.IGNORECASE,
)


class UnsupportedStep(Exception):
    """A Dockerfile instruction the replay does not know how to perform."""


@dataclass
class Instruction:
    keyword: str
    flags: dict[str, str]
    args: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of CMD/ENTRYPOINT/HEALTHCHECK CMD; raises if it is shell form."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = text.split("CMD", 1)[1].strip() if "CMD" in text else ""
        value = json.loads(text)
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ValueError(f"line {self.line}: {self.keyword} is not in exec form")
        return value


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


@dataclass
class Dockerfile:
    path: Path
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if not current:
            start = number
        if stripped.endswith("\\"):
            current.append(stripped[:-1].strip())
            continue
        current.append(stripped)
        lines.append((start, " ".join(part for part in current if part)))
        current = []
    if current:
        lines.append((start, " ".join(current)))
    return lines


def parse(path: Path) -> Dockerfile:
    stages: list[Stage] = []
    for line, text in _logical_lines(path.read_text()):
        keyword, _, rest = text.partition(" ")
        keyword = keyword.upper()
        flags: dict[str, str] = {}
        rest = rest.strip()
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            name, _, value = flag[2:].partition("=")
            flags[name] = value
            rest = rest.strip()
        instruction = Instruction(keyword, flags, rest, line)
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        elif not stages:
            raise ValueError(f"{path}:{line}: {keyword} before the first FROM")
        else:
            stages[-1].instructions.append(instruction)
    return Dockerfile(path, stages)


def env_of(instruction: Instruction) -> dict[str, str]:
    """ENV key=value pairs (the legacy `ENV key value` form is refused)."""
    pairs: dict[str, str] = {}
    for token in shlex.split(instruction.args):
        if "=" not in token:
            raise UnsupportedStep(f"line {instruction.line}: use ENV key=value")
        key, _, value = token.partition("=")
        pairs[key] = value
    return pairs


# ---- .dockerignore ----------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for segment in pattern.strip("/").split("/"):
        if segment == "**":
            parts.append(None)
            continue
        regex = ""
        for char in segment:
            regex += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
        parts.append(regex)
    regex = ""
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part is None:
            regex += ".*" if last else "(?:.*/)?"
        else:
            regex += part + ("" if last else "/")
    return re.compile(regex)


@dataclass
class DockerIgnore:
    """moby's rules: patterns in order, the last one that matches a path or a parent wins; `!` re-includes."""

    rules: list[tuple[bool, re.Pattern[str]]]

    @classmethod
    def load(cls, path: Path) -> DockerIgnore:
        rules = []
        for raw in path.read_text().splitlines() if path.exists() else []:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = os.path.normpath(line[1:].strip() if negated else line).replace(os.sep, "/")
            rules.append((negated, _pattern_regex(pattern)))
        return cls(rules)

    def excludes(self, relative: str) -> bool:
        path = PurePosixPath(relative)
        candidates = [str(path), *(str(parent) for parent in path.parents if str(parent) != ".")]
        excluded = False
        for negated, regex in self.rules:
            if any(regex.fullmatch(candidate) for candidate in candidates):
                excluded = not negated
        return excluded


# ---- replay -----------------------------------------------------------------


@dataclass
class Replay:
    """A Dockerfile's build performed under ``root`` (the image's `/`), from the context ``context``."""

    dockerfile: Dockerfile
    context: Path
    root: Path
    uv: str
    python: str
    log: list[str] = field(default_factory=list)

    def host_path(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def map_value(self, value: str) -> str:
        """An ENV value with the image's absolute paths moved under ``root`` (PATH-like lists too)."""
        mapped = []
        for item in value.split(":"):
            if item.startswith("/") and self._inside_image(item):
                item = str(self.host_path(item))
            mapped.append(item)
        return ":".join(mapped)

    def _inside_image(self, image_path: str) -> bool:
        top = PurePosixPath(image_path).parts[1:2]
        return bool(top) and (self.root / top[0]).exists()

    def stage_env(self, stage: Stage) -> dict[str, str]:
        env: dict[str, str] = {"PATH": BASE_IMAGE_PATH}
        base = next((s for s in self.dockerfile.stages if s.name == stage.image), None)
        if base is not None:
            env = self.stage_env(base)
        for instruction in stage.all("ENV"):
            for key, value in env_of(instruction).items():
                env[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)
        return env

    def mapped_env(self, stage: Stage) -> dict[str, str]:
        return {key: self.map_value(value) for key, value in self.stage_env(stage).items()}

    def build(self) -> None:
        ignore = DockerIgnore.load(self.context / ".dockerignore")
        for stage in self.dockerfile.stages:
            workdir = "/"
            for instruction in stage.instructions:
                if instruction.keyword == "WORKDIR":
                    workdir = str(PurePosixPath(workdir, instruction.args))
                    self.host_path(workdir).mkdir(parents=True, exist_ok=True)
                elif instruction.keyword == "COPY":
                    self._copy(instruction, workdir, ignore)
                elif instruction.keyword == "RUN":
                    self._run(stage, instruction, workdir)
                elif instruction.keyword in ("ENV", "USER", "EXPOSE", "HEALTHCHECK", "CMD", "ENTRYPOINT", "STOPSIGNAL"):
                    continue
                else:
                    raise UnsupportedStep(f"line {instruction.line}: {instruction.keyword} is not replayed")

    def _copy(self, instruction: Instruction, workdir: str, ignore: DockerIgnore) -> None:
        *sources, destination = shlex.split(instruction.args)
        source_stage = instruction.flags.get("from")
        if source_stage is not None:
            stage = self.dockerfile.stage(source_stage)
            if UV_IMAGE.match(stage.image):
                self.log.append(f"line {instruction.line}: uv comes from the host ({self.uv})")
                return
            # The venv's scripts carry absolute paths: copying between stages must keep them.
            if sources != [destination]:
                raise UnsupportedStep(
                    f"line {instruction.line}: COPY --from must keep the path ({sources} -> {destination})"
                )
            if not self.host_path(destination).exists():
                raise FileNotFoundError(f"line {instruction.line}: stage {source_stage} has no {destination}")
            return
        target = PurePosixPath(workdir, destination)
        into_directory = destination.endswith("/") or len(sources) > 1
        for source in sources:
            origin = self.context / source
            if ignore.excludes(source) and not (origin.is_dir() and self._any_included(origin, ignore)):
                raise FileNotFoundError(f"line {instruction.line}: {source} is excluded by .dockerignore")
            if not origin.exists():
                raise FileNotFoundError(f"line {instruction.line}: {source} is not in the build context")
            if origin.is_dir():
                self._copy_tree(origin, self.host_path(str(target)), ignore)
            else:
                dest = self.host_path(str(target / origin.name if into_directory else target))
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, dest)

    def _any_included(self, directory: Path, ignore: DockerIgnore) -> bool:
        return any(not ignore.excludes(str(p.relative_to(self.context))) for p in directory.rglob("*") if p.is_file())

    def _copy_tree(self, origin: Path, dest: Path, ignore: DockerIgnore) -> None:
        for path in sorted(origin.rglob("*")):
            relative = str(path.relative_to(self.context))
            if path.is_file() and not ignore.excludes(relative):
                target = dest / path.relative_to(origin)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)

    def _run(self, stage: Stage, instruction: Instruction, workdir: str) -> None:
        argv = shlex.split(instruction.args)
        if argv[:1] == ["groupadd"] or argv[:1] == ["useradd"]:
            if any(token in argv for token in ("&&", ";", "|")) and not self._only_user_setup(instruction.args):
                raise UnsupportedStep(f"line {instruction.line}: only groupadd/useradd may be chained")
            self.log.append(f"line {instruction.line}: user setup is the image's, not replayed")
            return
        if argv[:1] != ["uv"] or any(token in ("&&", ";", "|", "||") for token in argv):
            raise UnsupportedStep(f"line {instruction.line}: RUN must be a single uv command, got {instruction.args!r}")
        env = {k: v for k, v in os.environ.items() if NETWORK_ENV.match(k)}
        env.update(self.mapped_env(stage))
        env["UV_PYTHON"] = self.python
        self.log.append(f"line {instruction.line}: {instruction.args}")
        result = subprocess.run(
            [self.uv, *argv[1:]],
            cwd=self.host_path(workdir),
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"line {instruction.line}: `{instruction.args}` failed:\n{result.stderr[-4000:]}")

    @staticmethod
    def _only_user_setup(command: str) -> bool:
        return all(part.strip().split()[0] in ("groupadd", "useradd") for part in command.split("&&"))
