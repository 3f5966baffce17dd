def test_ci_provenance_names_the_builder_and_source_per_provider():
    from lockgate.stages.sign_config import ci_provenance

    github = ci_provenance(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": "acme/churn",
            "GITHUB_WORKFLOW_REF": "acme/churn/.github/workflows/lockgate.yml@refs/heads/main",
        }
    )
    assert github == {
        "builder_id": "https://github.com/acme/churn/.github/workflows/lockgate.yml@refs/heads/main",
        "source_repo": "git+https://github.com/acme/churn",
    }
    gitlab = ci_provenance(
        {
            "GITLAB_CI": "true",
            "CI_SERVER_URL": "https://gitlab.example",
            "CI_PROJECT_PATH": "ml/churn",
            "CI_PROJECT_URL": "https://gitlab.example/ml/churn",
            "CI_RUNNER_ID": "42",
        }
    )
    assert gitlab == {
        "builder_id": "https://gitlab.example/ml/churn/-/runners/42",
        "source_repo": "git+https://gitlab.example/ml/churn",
    }
    jenkins = ci_provenance(
        {
            "JENKINS_URL": "https://ci.example/",
            "JOB_NAME": "churn",
            "GIT_URL": "https://git.example/churn.git",
        }
    )
    assert jenkins == {
        "builder_id": "https://ci.example/job/churn",
        "source_repo": "git+https://git.example/churn.git",
    }
    assert ci_provenance({"HOME": "/root"}) == {}
