"""The spec loader under generated input (hypothesis): nothing but a
SpecError ever comes out, and every error names the key path; through a
YAML file, the file and line too. bench/spec_fuzz.py runs 10^5 of these."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings

from k8sfs.spec import SpecError, load_spec
from spec_strategies import check_one, specs


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs)
def test_the_loader_raises_only_spec_errors_that_name_the_key(data):
    check_one(data)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(specs)
def test_through_a_yaml_file_errors_name_the_file(tmp_path, data):
    path = tmp_path / "spec.yaml"
    try:
        path.write_text(yaml.safe_dump(data, allow_unicode=True))
    except (yaml.YAMLError, UnicodeEncodeError):
        return  # not something a YAML file can hold
    try:
        load_spec(path)
    except SpecError as error:
        assert str(error).startswith(f"{path}"), str(error)
