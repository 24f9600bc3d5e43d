"""What a governance officer sees in the Atlas UI, in a real browser (Debian's Chromium, headless).

The story is built with the project's own commands (`atlas-ml apply` of a small catalog, `atlas-ml check` for a
public commercial release); the test then logs in through Atlas's login form like a person and checks that
the model's page explains the verdict, lists the propagated tags with the dataset they came from, and draws
the lineage. Every page it visits is saved as a screenshot: in .state/screenshots, or in the folder named by
ATLAS_ML_DOC_SCREENSHOTS (`ATLAS_ML_DOC_SCREENSHOTS=docs/img` refreshes the images of
docs/governance-officers.md). Chromium and chromedriver come from `scripts/install-browser.sh` (`make browser`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# Debian's packages, named explicitly so that selenium never tries to download a browser or a driver.
CHROMIUM = os.environ.get("ATLAS_ML_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ATLAS_ML_CHROMEDRIVER", "/usr/bin/chromedriver")
WIDTH, HEIGHT = 1280, 900
WAIT_SECONDS = 30  # the UI loads its types and the entity with several REST calls; Atlas on 2 cores is slow


def screenshot_dir() -> Path:
    configured = os.environ.get("ATLAS_ML_DOC_SCREENSHOTS")
    folder = (REPO / configured) if configured else REPO / ".state" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: `pip install -e '.[test]'` (or `make venv`)")
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: run `make browser` (scripts/install-browser.sh installs "
                    "Debian's chromium and chromium-driver), or point ATLAS_ML_CHROMIUM / ATLAS_ML_CHROMEDRIVER at "
                    "a Chromium and its matching chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # --no-sandbox: the tests run as root in a container, where Chromium's sandbox cannot start.
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={WIDTH},{HEIGHT}", "--lang=en-US"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        # The window size includes the browser's frame; screenshots should be exactly WIDTH x HEIGHT.
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
        yield browser
    finally:
        browser.quit()


class OfficerUI:
    """The Atlas UI as an officer uses it; a missing element fails the test with a screenshot of the page."""

    def __init__(self, driver: Any, settings: AtlasSettings) -> None:
        self.driver = driver
        self.url = settings.url.rstrip("/")
        self.settings = settings
        self.shots = screenshot_dir()

    def login(self) -> None:
        from selenium.webdriver.common.by import By

        self.driver.get(f"{self.url}/login.jsp")
        self.wait_for("the login form", By.ID, "username").send_keys(self.settings.username or "")
        password = self.settings.password.get_secret_value() if self.settings.password else ""
        self.driver.find_element(By.ID, "password").send_keys(password)
        self.driver.find_element(By.ID, "signIn").click()
        self.until("the login to be accepted (still on login.jsp: wrong user or password?)",
                   lambda d: "login.jsp" not in d.current_url)

    def open(self, fragment: str) -> None:
        # The classic UI, the one the launcher makes Atlas's default (atlas.ui.default.version=v2).
        self.driver.get(f"{self.url}/index.html#!/{fragment}")

    def open_tab(self, tab: str, what: str) -> None:
        from selenium.webdriver.common.by import By

        self.wait_for(f"the {what} tab", By.CSS_SELECTOR, f'a[href="#{tab}"]', clickable=True).click()

    def wait_for(self, what: str, by: str, selector: str, *, clickable: bool = False) -> Any:
        from selenium.webdriver.support import expected_conditions as ec

        condition = ec.element_to_be_clickable if clickable else ec.visibility_of_element_located
        return self.until(what, condition((by, selector)))

    def until(self, what: str, condition: Callable[[Any], Any]) -> Any:
        from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        # The single-page app re-renders parts of a page as its REST calls return: an element found a moment
        # ago can be replaced, so stale references are retried like missing ones.
        wait = WebDriverWait(self.driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,))
        try:
            return wait.until(condition)
        except TimeoutException:
            # Beside the other screenshots, but never into the docs' folder.
            failures = REPO / ".state" / "screenshots"
            failures.mkdir(parents=True, exist_ok=True)
            shot = failures / "FAILED.png"
            self.driver.save_screenshot(str(shot))
            (failures / "FAILED.html").write_text(self.driver.page_source, encoding="utf-8")
            pytest.fail(f"the Atlas UI did not show {what} within {WAIT_SECONDS} s at {self.driver.current_url}; "
                        f"screenshot: {shot} (page source next to it)", pytrace=False)

    def save(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def property_value(self, attribute: str, expected: str) -> str:
        """The value shown next to ATTRIBUTE in the Properties tab, once it shows EXPECTED."""
        from selenium.webdriver.common.by import By

        xpath = f"//div[@id='tab-details']//tr[td[1][normalize-space()='{attribute}']]/td[2]"
        self.wait_for(f"the property {attribute}", By.XPATH, xpath)
        cell = self.until(f"the property {attribute} showing {expected!r}",
                          lambda d: next((c for c in d.find_elements(By.XPATH, xpath) if expected in c.text), None))
        return str(cell.text)


def write_story(tmp_path: Path, uid: str) -> tuple[str, str, str]:
    """A catalog as a data team writes it: a CC-BY-NC dataset with faces, a run, the model trained on it.
    Display names stay readable for the guide's screenshots; the uid keeps the qualified names apart."""
    dataset, model, run_id = f"file:///data/{uid}/street-scenes/v2", f"file:///models/{uid}/scene-detector/1.0", uid
    (tmp_path / "catalog.yaml").write_text(f"""version: 1
datasets:
  - qualified_name: {dataset}
    name: street-scenes
    description: Dash-cam frames of city streets with bounding boxes for pedestrians and vehicles.
    license: CC-BY-NC-4.0
    creator: Urban Vision Lab
    url: https://urban-vision.example/street-scenes
    personal_data_categories: [face]
models:
  - qualified_name: {model}
    name: scene-detector
    version: "1.0"
    owner: ml-platform
training_runs:
  - run_id: {run_id}
    name: train scene-detector 1.0
    inputs: [{dataset}]
    outputs: [{model}]
    status: COMPLETED
    processing_purpose: model-training
""", encoding="utf-8")
    return dataset, model, f"ml-run:{run_id}"


def guid_of(client: AtlasClient, type_name: str, qualified_name: str) -> str:
    entity = client.find_entity(type_name, qualified_name)
    assert entity is not None, f"{type_name} {qualified_name} is not in Atlas"
    return str(entity["entity"]["guid"])


def test_an_officer_sees_why_the_model_is_blocked_where_its_tags_come_from_and_its_lineage(
        driver: Any, atlas_settings: AtlasSettings, client: AtlasClient, run: Callable[..., Result],
        uid: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    dataset, model, run_qn = write_story(tmp_path, uid)
    applied = run("apply", str(tmp_path / "catalog.yaml"))
    assert applied.exit_code == 0, applied.output
    checked = run("check", model, "--audience", "public", "--commercial")
    assert checked.exit_code == 2, checked.output  # BLOCK, recorded in Atlas (--record is the default)
    dataset_guid, run_guid = guid_of(client, "ml_dataset", dataset), guid_of(client, "ml_training_run", run_qn)
    model_guid = guid_of(client, "ml_model", model)
    recorded = client.find_entity("ml_model", model)["entity"]["attributes"]  # type: ignore[index]
    summary = recorded.get("governanceSummary")
    assert summary and "BLOCK" in summary, f"the check recorded no verdict explanation on {model}: {recorded}"

    ui = OfficerUI(driver, atlas_settings)
    ui.login()

    # Why is this model blocked? The verdict and its explanation on the model's page.
    ui.open(f"detailPage/{model_guid}")
    ui.wait_for("the model's name as the page title", By.XPATH, "//h1[contains(normalize-space(), 'scene-detector')]")
    ui.property_value("governanceVerdict", "BLOCK")
    ui.property_value("governanceSummary", summary)
    ui.save("officer-model")

    # Which tags does it inherit, and from where? Each propagated tag names its source dataset.
    ui.open_tab("tab-tagTable", "Classifications")
    for tag, attribute in (("NonCommercial", "CC-BY-NC-4.0"), ("PersonalData", "face")):
        row = f"//div[@id='tab-tagTable']//tr[td[1]/a[normalize-space()='{tag}']]"
        ui.wait_for(f"the propagated tag {tag} in the Classifications tab", By.XPATH, row)
        # "Propagated From" links to the dataset's page; the tag's attributes name it and its license or data.
        ui.wait_for(f"{tag} marked as propagated from the dataset {dataset}", By.XPATH,
                    f"{row}//*[@data-id='propagatedFromClick'][@data-guid='{dataset_guid}']")
        ui.wait_for(f"{tag}'s attributes naming {dataset} and {attribute}", By.XPATH,
                    f"{row}[.//td[normalize-space()='{dataset}']][.//td[contains(., '{attribute}')]]")
    ui.wait_for("the model's own ReleaseVerdict tag", By.XPATH,
                "//div[@id='tab-tagTable']//tr[td[1]/a[normalize-space()='ReleaseVerdict']]")
    ui.save("officer-model-classifications")

    # The lineage graph: dataset -> training run -> model, drawn as SVG nodes keyed by guid.
    ui.open_tab("tab-lineage", "Lineage")
    for guid, what in ((dataset_guid, "dataset"), (run_guid, "training run"), (model_guid, "model")):
        ui.wait_for(f"the {what} ({guid}) as a node of the lineage graph", By.CSS_SELECTOR,
                    f'#tab-lineage svg g.node[id="{guid}"]')
    ui.until("the two lineage edges", lambda d: len(d.find_elements(By.CSS_SELECTOR,
                                                                      "#tab-lineage svg g.edgePath")) >= 2)
    ui.save("officer-model-lineage")

    # How would I accept the risk here? The model page offers RiskAccepted with who and until when.
    ui.open_tab("tab-details", "Properties")
    ui.wait_for("the Add Classification button", By.CSS_SELECTOR, '[data-id="addTag"]', clickable=True).click()
    ui.wait_for("the classification picker", By.CSS_SELECTOR, ".modal .select2-selection", clickable=True).click()
    search = ui.wait_for("the picker's search field", By.CSS_SELECTOR, ".select2-search__field")
    search.send_keys("RiskAccepted")
    search.send_keys(Keys.ENTER)
    fields = {"approver": "dpo@example.org", "reason": "privacy review PR-7: no memorised faces", "ticket": "PRIV-7"}
    for attribute, value in fields.items():
        ui.wait_for(f"RiskAccepted's {attribute} field in the Add Classification dialog", By.CSS_SELECTOR,
                    f'.modal [data-id="tagAttribute"] input[data-key="{attribute}"]').send_keys(value)
    ui.wait_for("RiskAccepted's expiryDate field", By.CSS_SELECTOR, '.modal input[data-key="expiryDate"]')
    propagate = ui.wait_for("the Propagate box", By.CSS_SELECTOR, '.modal input[data-id="checkModalTagProperty"]')
    if propagate.is_selected():  # an acceptance is about this model only; the guide says to untick it
        propagate.click()
    ui.save("officer-risk-accepted-dialog")
    driver.find_element(By.CSS_SELECTOR, ".modal .cancel").click()

    # The release decision the check recorded: verdict and explanation on its own page.
    release_guid = guid_of(client, "ml_release", f"{model}#release/public/commercial")
    ui.open(f"detailPage/{release_guid}")
    ui.property_value("verdict", "BLOCK")
    ui.save("officer-release")

    # Why, finding by finding: the release's Relationships tab lists one readable finding per cause, each a
    # link; the finding's page says what to do and links the dataset it comes from.
    ui.open(f"detailPage/{release_guid}?tabActive=relationship")
    finding_link = ui.wait_for("the release's NonCommercial finding in its Relationships tab", By.XPATH,
                               f"//a[starts-with(normalize-space(), 'BLOCK: NonCommercial from {dataset}')]")
    ui.save("officer-release-findings")
    finding_link.click()
    ui.property_value("outcome", "BLOCK")
    ui.property_value("remedy", "commercial")
    ui.save("officer-finding")

    # Which models inherit NonCommercial? A search by type and classification (narrowed to this test's run).
    ui.open(f"search/searchResult?type=ml_model&tag=NonCommercial&query={uid}&searchType=basic")
    ui.wait_for("scene-detector among the models tagged NonCommercial", By.XPATH,
                "//table//a[normalize-space()='scene-detector']")
    ui.save("officer-search-noncommercial")
