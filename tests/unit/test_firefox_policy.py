"""The Firefox lock-down generated from settings: Firefox's key names, the legacy restrictions, the
allow-list rules, and a digest that changes exactly when the files change."""

from __future__ import annotations

import json
import re

import pytest

from components import firefox_policy
from components.manifests import FIREFOX_POLICY_DIGEST, deployment_args, firefox_policy_args
from components.settings import SettingsError, settings_from_values
from tests.unit.test_manifests import PLAN

LEGACY_TRUE = (
    "DisableDeveloperTools",
    "DisableEncryptedClientHello",
    "DisableFeedbackCommands",
    "DisableFirefoxAccounts",
    "DisableFirefoxScreenshots",
    "DisableFirefoxStudies",
    "DisableForgetButton",
    "DisableFormHistory",
    "DisableMasterPasswordCreation",
    "DisablePasswordReveal",
    "DisablePocket",
    "DisablePrivateBrowsing",
    "DisableProfileImport",
    "DisableProfileRefresh",
    "DisableSafeMode",
    "DisableSetDesktopBackground",
    "DisableSystemAddonUpdate",
    "DisableTelemetry",
)


def _policies(**values: object) -> dict[str, object]:
    document = firefox_policy.policies(settings_from_values(values))
    assert list(document) == ["policies"]
    rules: dict[str, object] = document["policies"]
    return rules


def test_every_legacy_restriction_is_kept_and_the_new_ones_added():
    rules = _policies(browserUrl="https://jupyter.example.org/hub/")
    for key in LEGACY_TRUE:
        assert rules[key] is True, key
    assert rules["DisableSecurityBypass"] == {"InvalidCertificate": True, "SafeBrowsing": True}
    assert rules["InstallAddonsPermission"] == {"Default": False}
    assert rules["ExtensionSettings"] == {"*": {"installation_mode": "blocked"}}
    assert rules["SearchSuggestEnabled"] is False
    for key in ("BlockAboutConfig", "BlockAboutAddons", "BlockAboutProfiles", "BlockAboutSupport"):
        assert rules[key] is True, key
    assert rules["PasswordManagerEnabled"] is False
    assert rules["OfferToSaveLogins"] is False
    assert rules["Homepage"] == {
        "URL": "https://jupyter.example.org/hub/",
        "Locked": True,
        "StartPage": "homepage-locked",
    }
    assert rules["Certificates"] == {
        "ImportEnterpriseRoots": True,
        "Install": ["/usr/lib/firefox/distribution/certs/enterprise.crt"],
    }


@pytest.mark.parametrize(
    ("values", "exceptions"),
    [
        ({"browserUrl": "https://jupyter.example.org/hub/"}, ["https://jupyter.example.org/*"]),
        ({"browserUrl": "http://jh.local:8080"}, ["http://jh.local:8080/*"]),
        (
            {
                "browserUrl": "https://jupyter.example.org",
                "firefoxAllowedUrls": [
                    "https://ohdsi.example.org",
                    "https://atlas.example.org/atlas/*",
                    "https://ohdsi.example.org/",
                ],
            },
            ["https://ohdsi.example.org/*", "https://atlas.example.org/atlas/*"],
        ),
        ({}, []),
    ],
)
def test_everything_outside_the_allow_list_is_blocked(
    values: dict[str, object], exceptions: list[str]
) -> None:
    rules = _policies(**values)
    assert rules["WebsiteFilter"] == {"Block": ["<all_urls>"], "Exceptions": exceptions}


def test_no_home_page_without_browser_url_and_no_certificate_without_its_config_map():
    rules = _policies(enterpriseCaConfigMap="")
    assert "Homepage" not in rules
    assert "Certificates" not in rules


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"firefoxAllowedUrls": ["ftp://files.example.org"]}, "firefoxAllowedUrls[0]"),
        ({"firefoxAllowedUrls": ["https://ok.example.org", "jupyter"]}, "firefoxAllowedUrls[1]"),
        ({"firefoxAllowedUrls": "https://one.example.org"}, "firefoxAllowedUrls"),
        ({"browserUrl": "jupyter.example.org"}, "browserUrl"),
        ({"firefoxPolicyConfigMap": "Firefox_Config"}, "firefoxPolicyConfigMap"),
    ],
)
def test_bad_settings_name_the_key(values: dict[str, object], field: str) -> None:
    with pytest.raises(SettingsError, match="^" + re.escape(field) + ":"):
        settings_from_values(values)


def test_config_map_holds_both_files_and_valid_json():
    settings = settings_from_values({"browserUrl": "https://jupyter.example.org"})
    args = firefox_policy_args(settings)
    assert args["metadata"]["name"] == "firefox-config"
    assert args["metadata"]["namespace"] == "guacamole"
    assert "xlscsde.nhs.uk/purpose" not in args["metadata"]["labels"]
    assert args["metadata"]["annotations"]["pulumi.com/patchForce"] == "true"
    data = args["data"]
    assert set(data) == {"policies.json", "distribution.ini"}
    assert json.loads(data["policies.json"]) == firefox_policy.policies(settings)
    assert data["distribution.ini"].startswith("[Global]\n")


def test_the_digest_follows_the_policy_and_restarts_browsers_only_when_it_changes():
    base = settings_from_values({"browserUrl": "https://jupyter.example.org"})
    same = settings_from_values({"browserUrl": "https://jupyter.example.org", "idleTimeout": 5})
    other = settings_from_values(
        {"browserUrl": "https://jupyter.example.org", "firefoxAllowedUrls": ["https://x.org"]}
    )
    annotation = deployment_args(PLAN, base)["spec"]["template"]["metadata"]["annotations"]
    assert annotation[FIREFOX_POLICY_DIGEST] == firefox_policy.digest(base)
    assert firefox_policy.digest(same) == firefox_policy.digest(base)
    assert firefox_policy.digest(other) != firefox_policy.digest(base)


def test_an_external_policy_is_only_mounted():
    settings = settings_from_values({"declareFirefoxPolicy": False})
    args = deployment_args(PLAN, settings)
    assert FIREFOX_POLICY_DIGEST not in args["spec"]["template"]["metadata"]["annotations"]
    mounts = args["spec"]["template"]["spec"]["containers"][0]["volume_mounts"]
    assert {"name": "firefox-config", "mount_path": "/usr/lib/firefox/distribution"}.items() <= (
        mounts[1].items()
    )
    assert not settings_from_values({"firefoxPolicyConfigMap": ""}).declare_firefox_policy
