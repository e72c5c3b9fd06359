"""The inputs k8sfs gives openapi-gen for a kubernetes module that lacks its
generated OpenAPI file: the tagged packages (by import path, skipping tests,
vendor and tools) and the kube-openapi version kubernetes pins."""

from __future__ import annotations

from k8sfs.artifacts import openapi


def test_tagged_packages_by_import_path(tmp_path):
    files = {
        "pkg/apis/abac/v1beta1/doc.go": "// +k8s:openapi-gen=true\npackage v1beta1\n",
        "pkg/apis/abac/v0/types.go": "// +k8s:openapi-gen=false\npackage v0\n",
        "pkg/apis/plain/types.go": "package plain\n",
        "vendor/x/doc.go": "// +k8s:openapi-gen=true\n",
        "test/e2e/doc.go": "// +k8s:openapi-gen=true\n",
        "pkg/apis/abac/v1/types_test.go": "// +k8s:openapi-gen=true\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert openapi.tagged_packages(tmp_path, "k8s.io/kubernetes") == [
        "k8s.io/kubernetes/pkg/apis/abac/v0",
        "k8s.io/kubernetes/pkg/apis/abac/v1beta1",
    ]


def test_the_pinned_kube_openapi_is_the_required_one_not_the_replace_line():
    gomod = (
        "require (\n\tk8s.io/gengo v0.0.0-2020\n\tk8s.io/kube-openapi v0.0.0-20210305001622-591a79e4bda7\n)\n"
        "replace (\n\tk8s.io/kube-openapi => k8s.io/kube-openapi v0.0.0-20210305001622-591a79e4bda7\n)\n"
    )
    assert openapi.pinned_version(gomod, "k8s.io/kube-openapi") == "v0.0.0-20210305001622-591a79e4bda7"
