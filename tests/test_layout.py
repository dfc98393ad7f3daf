"""The import direction of README's 'Where things are': each part of near imports only parts at its
level or below (cli -> commands -> eval, viz -> factories, restore -> config -> rl, energy -> envs ->
data, motion -> utils), so that, e.g., evaluation code never reaches back into a command."""

import ast
import pathlib

import near

LEVELS = [("cli", "cli_motion"), ("commands",), ("eval", "viz"), ("factories", "restore"), ("config",),
          ("rl", "energy"), ("envs",), ("data", "motion"), ("utils",)]
LEVEL = {part: i for i, parts in enumerate(LEVELS) for part in parts}
ROOT = pathlib.Path(near.__file__).parent
# known upward imports, each with its reason
ALLOWED = {("energy/train.py", "near.config")}  # a checkpoint's recorded config is checked with the user's checks


def _part(module: str) -> str | None:
    names = module.split(".")
    return names[1] if names[0] == "near" and len(names) > 1 else None


def _imports(path: pathlib.Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            if node.module == "near":  # from near import X
                yield from (f"near.{a.name}" for a in node.names)


def test_imports_point_down_the_layers():
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        part = path.relative_to(ROOT).parts[0].removesuffix(".py")
        if part not in LEVEL:
            continue
        for module in _imports(path):
            target = _part(module)
            allowed = (str(path.relative_to(ROOT)), module) in ALLOWED
            if target in LEVEL and LEVEL[target] < LEVEL[part] and not allowed:
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, wrong
    assert {p.name.removesuffix(".py") for p in ROOT.iterdir() if p.suffix == ".py" or p.is_dir()} - {
        "__init__", "__pycache__", "conf"} <= set(LEVEL)  # a new top-level part needs a level here
