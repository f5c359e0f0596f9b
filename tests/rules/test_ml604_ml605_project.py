"""ML604/ML605 across files: the epoch loop hands the loader to a loop helper imported from another
file of the project (detr's `train_one_epoch` in engine.py); the helper is read, never imported."""

import textwrap

import pytest

from mllint.testing import lint

ENGINE = textwrap.dedent("""
    def train_one_epoch(model, criterion, data_loader, optimizer, epoch):
        model.train()
        for samples, targets in data_loader:
            loss = criterion(model(samples), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    """)
ENGINE_SETS_EPOCH = ENGINE.replace("    model.train()\n", "    model.train()\n    data_loader.sampler.set_epoch(epoch)\n")
ENGINE_DOES_NOT_ITERATE = textwrap.dedent("""
    def train_one_epoch(model, criterion, data_loader, optimizer, epoch):
        return len(data_loader)
    """)


def _main(set_epoch: str = "", loader_args: str = "batch_size=8, sampler=sampler_train") -> str:
    return textwrap.dedent(f"""
        from torch.nn.parallel import DistributedDataParallel as DDP
        from torch.utils.data import DataLoader, DistributedSampler

        from engine import train_one_epoch


        def main(args, model, criterion, optimizer, dataset_train):
            model = DDP(model)
            sampler_train = DistributedSampler(dataset_train)
            data_loader_train = DataLoader(dataset_train, {loader_args})
            for epoch in range(args.epochs):
                {set_epoch}
                train_one_epoch(model, criterion, data_loader_train, optimizer, epoch)
        """)


def _lint(tmp_path, engine, main, code):
    (tmp_path / "engine.py").write_text(engine)
    path = tmp_path / "main.py"
    path.write_text(main)
    return [(d.code, d.start.row) for d in lint(main, code, path=str(path), root=tmp_path)]


@pytest.mark.parametrize("engine, set_epoch, expected", [
    (ENGINE, "", [("ML604", 10)]),
    (ENGINE, "sampler_train.set_epoch(epoch)", []),
    (ENGINE_SETS_EPOCH, "", []),
    (ENGINE_DOES_NOT_ITERATE, "", []),
], ids=["helper iterates, no set_epoch", "set_epoch in the loop", "helper sets the epoch", "helper does not iterate"])
def test_ml604_follows_the_imported_loop_helper(tmp_path, engine, set_epoch, expected):
    assert _lint(tmp_path, engine, _main(set_epoch or "pass"), "ML604") == expected


def test_ml604_without_the_helper_file_is_silent(tmp_path):
    path = tmp_path / "main.py"
    main = _main("pass")
    path.write_text(main)
    assert lint(main, "ML604", path=str(path), root=tmp_path) == []


@pytest.mark.parametrize("engine, expected", [
    (ENGINE, [("ML605", 11)]),
    (ENGINE_DOES_NOT_ITERATE, []),
], ids=["helper iterates", "helper does not iterate"])
def test_ml605_follows_the_imported_loop_helper(tmp_path, engine, expected):
    main = _main("pass", loader_args="batch_size=8, shuffle=True")
    assert _lint(tmp_path, engine, main, "ML605") == expected


def test_cached_result_depends_on_the_helper_file(tmp_path, monkeypatch):
    """The cache and the replay know that main.py's result was read from engine.py too."""
    import os

    from click.testing import CliRunner

    from mllint.frontends.cli import main

    (tmp_path / "pyproject.toml").write_text("[tool.mllint]\n")
    engine = tmp_path / "engine.py"
    engine.write_text(ENGINE_SETS_EPOCH)
    (tmp_path / "main.py").write_text(_main("pass"))
    monkeypatch.chdir(tmp_path)
    args = ["--jobs", "1", "--select", "ML604", "main.py"]
    assert CliRunner().invoke(main, args).exit_code == 0
    engine.write_text(ENGINE + "# the helper no longer sets the epoch\n")
    stat = engine.stat()
    os.utime(engine, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 1 and "ML604" in second.output
    third = CliRunner().invoke(main, args)  # replayed from the cache, still found
    assert third.exit_code == 1 and "ML604" in third.output
