import pytest
from django.core.management import CommandError, call_command

from catalog.models import Dataset
from tests.catalog.conftest import write_csv

pytestmark = pytest.mark.django_db


def test_register_dataset_command(data_root, steward, capsys):
    write_csv(data_root / "sales.csv", ["id", "amount"], [[1, 2], [2, 3]])
    call_command(
        "register_dataset",
        "--name",
        "sales",
        "--path",
        "sales.csv",
        "--owner",
        "stella",
        "--tag",
        "finance",
    )
    assert "Registered sales (profiled, 2 rows)" in capsys.readouterr().out
    dataset = Dataset.objects.get(name="sales")
    assert dataset.owner == steward and dataset.current_version.number == 1


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--name", "x", "--path", "../etc/passwd"], "may not contain '..'"),
        (["--name", "x", "--path", "missing.csv"], "No file"),
        (["--name", "x", "--connection", "ghost", "--table", "public.t"], "No connection named"),
        (["--name", "Bad!", "--path", "a.csv"], "lowercase"),
    ],
)
def test_register_dataset_refusals_exit_non_zero(data_root, args, reason):
    write_csv(data_root / "a.csv", ["a"], [[1]])
    with pytest.raises(CommandError) as info:
        call_command("register_dataset", *args)
    assert reason in str(info.value)
    assert not Dataset.objects.exists()
