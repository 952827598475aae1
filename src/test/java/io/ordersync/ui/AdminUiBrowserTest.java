package io.ordersync.ui;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.AppTestSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The admin UI in Debian's headless Chromium: log in, find a parked failure on the dashboard, open it,
 * retry it and watch it turn synced; sync an order now; bulk retry. Screenshots go to target/screenshots.
 */
class AdminUiBrowserTest extends AppTestSupport {

    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private WebDriver browser;
    private WebDriverWait wait;

    @BeforeEach
    void browser() throws Exception {
        if ("1".equals(System.getenv("ORDERSYNC_CI"))) {
            // CI installs them (.ci/run): there a missing browser is a failure, not a skip
            org.assertj.core.api.Assertions.assertThat(Files.isExecutable(CHROMEDRIVER) && Files.isExecutable(CHROMIUM))
                    .as("/usr/bin/chromium and /usr/bin/chromedriver on CI (ORDERSYNC_CI=1)").isTrue();
        }
        assumeTrue(Files.isExecutable(CHROMEDRIVER) && Files.isExecutable(CHROMIUM),
                "browser tests skipped: /usr/bin/chromium and /usr/bin/chromedriver are not installed "
                        + "(apt-get install chromium chromium-driver; .ci/run does this)");
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1043", "--user-data-dir=" + Files.createTempDirectory(tmp, "chrome"));
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile()).build();
        browser = new ChromeDriver(service, options);
        wait = new WebDriverWait(browser, Duration.ofSeconds(20));
    }

    @AfterEach
    void closeBrowser() {
        if (browser != null) {
            browser.quit();
        }
    }

    private void screenshot(String name) throws Exception {
        Path dir = Path.of("target", "screenshots");
        Files.createDirectories(dir);
        File shot = ((TakesScreenshot) browser).getScreenshotAs(OutputType.FILE);
        Files.copy(shot.toPath(), dir.resolve(name + ".png"), StandardCopyOption.REPLACE_EXISTING);
    }

    private WebElement byTestId(String id) {
        return wait.until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector("[data-testid='" + id + "']")));
    }

    /** Clicks an element found by its test id, finding it again if a page refresh replaced it. */
    private void click(String testId) {
        wait.ignoring(org.openqa.selenium.StaleElementReferenceException.class).until(d -> {
            byTestId(testId).click();
            return true;
        });
    }

    /** Logs in as the admin user the tests start with (admin / s3cure-pw). */
    private void logIn() {
        browser.get(app.url("/ui/"));
        wait.until(ExpectedConditions.urlContains("/login"));
        browser.findElement(By.id("username")).sendKeys("admin");
        browser.findElement(By.id("password")).sendKeys("s3cure-pw");
        browser.findElement(By.id("submit")).click();
        wait.until(ExpectedConditions.urlContains("/ui/"));
    }

    private void waitForText(String testId, String text) {
        wait.until(ExpectedConditions.textToBePresentInElementLocated(By.cssSelector("[data-testid='" + testId + "']"), text));
    }

    @Test
    void anAdminFindsAParkedFailureRetriesItSyncsAnOrderNowAndBulkRetries() throws Exception {
        // the operator is also told: an alert webhook receiver on loopback
        List<String> alerts = new java.util.concurrent.CopyOnWriteArrayList<>();
        com.sun.net.httpserver.HttpServer receiver = com.sun.net.httpserver.HttpServer.create(new java.net.InetSocketAddress("127.0.0.1", 0), 0);
        receiver.createContext("/alerts", ex -> {
            alerts.add(new String(ex.getRequestBody().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8));
            ex.sendResponseHeaders(204, -1);
            ex.close();
        });
        receiver.start();
        startWithCrm(1, "1h", Map.of("ordersync.admin.username", "admin", "ordersync.admin.password", "s3cure-pw",
                "ordersync.alerts.webhook-url", "http://127.0.0.1:" + receiver.getAddress().getPort() + "/alerts",
                "ordersync.alerts.check-period-ms", "300"));
        target.failAlways(422);
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(15)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry = 'permanent'") == 1);

        // log in
        browser.get(app.url("/ui/"));
        wait.until(ExpectedConditions.urlContains("/login"));
        browser.findElement(By.id("username")).sendKeys("admin");
        browser.findElement(By.id("password")).sendKeys("s3cure-pw");
        screenshot("01-login");
        browser.findElement(By.id("submit")).click();

        // the dashboard shows the parked failure, and its chart the failed sync; the alert has arrived
        waitForText("parked-crm", "1");
        await().atMost(Duration.ofSeconds(15)).until(() -> alerts.stream().anyMatch(a -> a.contains("\"type\":\"sync.parked\"") && a.contains("ABC12")));
        wait.until(d -> !d.findElements(By.cssSelector("[data-testid='chart-crm'] canvas")).isEmpty());
        assertThat(byTestId("chart-crm").getText()).contains("syncs").contains("failed").contains("p95 ms");
        screenshot("02-dashboard-parked");
        click("problems-link-crm");
        byTestId("order-link-ABC12");
        assertThat(browser.getPageSource()).contains("Provider reported a permanent error");
        assertThat(byTestId("problem-groups").getText()).contains("crm").contains("HTTP #");
        screenshot("03-problems");
        click("order-link-ABC12");

        // the order page explains the error; Retry now turns it synced once the target is fixed
        waitForText("status-text-crm", "Error: Provider reported a permanent error");
        screenshot("04-order-error");
        target.failAlways(0);
        click("retry-crm");
        waitForText("state-crm", "synced");
        assertThat(byTestId("results").getText()).contains("contact").contains("tester@example.org");
        assertThat(browser.findElements(By.cssSelector("[data-testid='results'] a"))).isNotEmpty();
        // the timeline: the refused try (422), then the ones that went through
        wait.until(d -> d.findElements(By.cssSelector("[data-testid='attempts'] li.bad")).size() >= 1
                && d.findElements(By.cssSelector("[data-testid='attempts'] li.ok")).size() >= 1);
        List<WebElement> tries = browser.findElements(By.cssSelector("[data-testid='attempts'] li"));
        assertThat(tries.get(0).getText()).contains("422");
        assertThat(tries.get(tries.size() - 1).getAttribute("class")).contains("ok");
        screenshot("05-order-synced");

        // Sync now sends the order again
        target.clearRequests();
        click("sync-crm");
        wait.until(d -> d.findElement(By.id("toast")).getAttribute("textContent").contains("Sync queued"));
        await().atMost(Duration.ofSeconds(15)).until(() -> !target.requests().isEmpty());
        waitForText("log", "sync requested by an operator");
        waitForText("state-crm", "synced");

        // bulk retry on the problems page
        target.failAlways(500);
        for (String code : new String[]{"BULK1", "BULK2"}) {
            ObjectNode doc = fixture("order-xyz34");
            ((ObjectNode) doc.path("order")).put("code", code);
            app.post("/api/events", doc.toString());
        }
        await().atMost(Duration.ofSeconds(15)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE need_manual_retry = 'exceeded'") == 2);
        browser.get(app.url("/ui/#/problems"));
        byTestId("order-link-BULK1");
        byTestId("order-link-BULK2");
        wait.ignoring(org.openqa.selenium.StaleElementReferenceException.class).until(d -> {
            d.findElement(By.id("select-all")).click();
            return d.findElements(By.cssSelector("input[data-row]:checked")).size() == 2;
        });
        screenshot("06-bulk-selected");
        target.failAlways(0);
        click("bulk-retry");
        byTestId("no-problems");
        screenshot("07-no-problems");
        await().atMost(Duration.ofSeconds(15)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue") == 0);
        assertThat(target.objects("tickets")).extracting(t -> t.path("ticket_id").asText()).contains("BULK1-1", "BULK2-1");
        receiver.stop(0);
    }

    /** The Orders page finds an order by part of its e-mail; the order page shows it and erases it. */
    @Test
    void anOrderIsFoundBySearchShownWithItsAttemptsAndErased() throws Exception {
        startWithCrm(5, "1h", Map.of("ordersync.admin.username", "admin", "ordersync.admin.password", "s3cure-pw"));
        for (int i = 0; i < 3; i++) {
            ObjectNode doc = fixture("order-abc12");
            ((ObjectNode) doc.path("order")).put("code", "FIND" + i).put("email", "buyer" + i + "@example.org");
            app.post("/api/events", doc.toString());
        }
        awaitQueueEmpty();
        logIn();
        browser.get(app.url("/ui/#/orders"));
        waitForText("order-total", "3 orders");
        byTestId("order-q").sendKeys("BUYER1@");
        click("order-search");
        waitForText("order-total", "1 order");
        assertThat(byTestId("orders").getText()).contains("FIND1").doesNotContain("FIND2");
        screenshot("10-orders-search");
        // and a rejected event, on its page
        app.post("/api/events", "{\"type\": \"order.paid\", \"order\": {\"code\": \"BAD\"}}");
        browser.get(app.url("/ui/#/rejected"));
        wait.until(d -> d.getPageSource().contains("BAD") || d.findElements(By.cssSelector("td.error")).size() > 0);
        screenshot("15-rejected");
        browser.get(app.url("/ui/#/orders?q=BUYER1%40"));
        waitForText("order-total", "1 order");
        browser.findElement(By.linkText("democon / FIND1")).click();
        waitForText("summary-email", "buyer1@example.org");
        waitForText("summary-total", "46.00");
        assertThat(browser.findElements(By.cssSelector("[data-testid='attempts'] li.ok"))).isNotEmpty();
        screenshot("11-order-attempts");
        click("erase-order");
        browser.switchTo().alert().accept();
        wait.until(ExpectedConditions.urlContains("#/orders"));
        await().atMost(Duration.ofSeconds(10)).until(() -> app.count("SELECT COUNT(*) FROM order_snapshot WHERE order_code = 'FIND1'") == 0);
        waitForText("order-total", "2 orders");
    }

    /** The mapping editor: a bad edit is marked at its line and refused; a form edit is applied, saved and runs. */
    @Test
    void aFormEditSavesAFileThatValidatesAndABadEditIsRefused() throws Exception {
        startWithCrm(5, "1h", Map.of("ordersync.admin.username", "admin", "ordersync.admin.password", "s3cure-pw"));
        logIn();
        browser.get(app.url("/ui/#/mappings"));
        byTestId("mapping-crm");
        screenshot("14-mappings");
        click("edit-crm");
        waitForText("ed-state", "valid");
        String original = Files.readString(mappings.resolve("crm.yaml"));

        // a misspelt mode: marked at its line as you type, and the save refused
        WebElement text = byTestId("ed-text");
        String broken = original.replace("remote: first_name, mode: if_empty", "remote: first_name, mode: if_emtpy");
        ((org.openqa.selenium.JavascriptExecutor) browser).executeScript(
                "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));", text, broken);
        waitForText("ed-state", "1 error");
        // the gutter marks line 31 (it is scrolled out of view: present, not visible)
        wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("[data-testid='ed-bad-31']")));
        assertThat(byTestId("ed-errors").getText()).contains("line 31").contains("if_emtpy");
        screenshot("12-mapping-error");
        click("ed-save");
        waitForText("ed-state", "not saved");
        assertThat(Files.readString(mappings.resolve("crm.yaml"))).isEqualTo(original);

        // back to the saved text; the form renames a remote field; applied, valid, saved, on disk, in the history
        ((org.openqa.selenium.JavascriptExecutor) browser).executeScript(
                "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));", text, original);
        waitForText("ed-state", "valid");
        WebElement remote = byTestId("ed-remote-1");
        assertThat(remote.getAttribute("value")).isEqualTo("first_name");
        remote.clear();
        remote.sendKeys("given_name");
        remote.sendKeys(org.openqa.selenium.Keys.TAB);
        click("ed-apply");
        wait.until(d -> String.valueOf(((org.openqa.selenium.JavascriptExecutor) d).executeScript(
                "return document.querySelector('[data-testid=ed-text]').value")).contains("remote: given_name"));
        waitForText("ed-state", "valid");
        screenshot("13-mapping-form");
        click("ed-save");
        await().atMost(Duration.ofSeconds(10)).until(() -> Files.readString(mappings.resolve("crm.yaml")).contains("remote: given_name, mode: if_empty"));
        String saved = Files.readString(mappings.resolve("crm.yaml"));
        // only the properties block of the contact changed: the comment above it is still there
        assertThat(saved).contains("# the circuit breaker has its own tests");
        waitForText("ed-history", "admin");
        // where it was saved (several instances on one database: MAPPINGS.md, "Several instances")
        waitForText("ed-history", "on ordersync-");
        assertThat(app.query("SELECT actor FROM mapping_change")).singleElement()
                .satisfies(r -> assertThat(r.get("actor")).isEqualTo("UI session of admin"));
    }

    /**
     * A file with CRLF line ends (written on Windows) keeps them when saved from the editor: a textarea holds LF
     * only, and the save rewrote every line of the file, so that the history's diff showed the whole file (a review).
     */
    @Test
    void aSaveKeepsTheFilesCrlfLineEnds() throws Exception {
        startWithCrm(5, "1h", Map.of("ordersync.admin.username", "admin", "ordersync.admin.password", "s3cure-pw"));
        Path crm = mappings.resolve("crm.yaml");
        String crlf = Files.readString(crm).replace("\r\n", "\n").replace("\n", "\r\n");
        Files.writeString(crm, crlf);
        await().atMost(Duration.ofSeconds(10)).until(() -> app.get("/api/providers/crm/edit").body().contains("\\r\\n"));
        logIn();
        browser.get(app.url("/ui/#/mappings"));
        byTestId("mapping-crm");
        click("edit-crm");
        waitForText("ed-state", "valid");
        WebElement text = byTestId("ed-text");
        String edited = crlf.replace("\r\n", "\n").replace("remote: first_name, mode: if_empty", "remote: given_name, mode: if_empty");
        ((org.openqa.selenium.JavascriptExecutor) browser).executeScript(
                "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));", text, edited);
        waitForText("ed-state", "valid");
        click("ed-save");
        await().atMost(Duration.ofSeconds(10)).until(() -> Files.readString(crm).contains("remote: given_name"));
        assertThat(Files.readString(crm)).isEqualTo(crlf.replace("remote: first_name, mode: if_empty", "remote: given_name, mode: if_empty"));
        String diff = JSON.readTree(app.get("/api/providers/crm/history").body()).path("changes").path(0).path("diff").asText();
        assertThat(diff.lines().filter(l -> l.startsWith("-") && !l.startsWith("---")).count()).as(diff).isEqualTo(1);
    }

    /** A retrying row reads "attempt 1 of 5" on the order page and in its log; the dashboard shows the pause. */
    @Test
    void theAttemptCountReadsTheSameEverywhereAndAPauseIsShown() throws Exception {
        startWithCrm(5, "1h", Map.of("ordersync.redelivery.maximum", "0"));
        target.failNext(1, "/contacts", 429, "600");
        app.post("/api/events", fixture("order-abc12").toString());
        await().atMost(Duration.ofSeconds(15)).until(() -> app.count("SELECT COUNT(*) FROM sync_queue WHERE failed_attempts = 1") == 1);

        browser.get(app.url("/login"));
        browser.findElement(By.id("token")).sendKeys(io.ordersync.support.OrdersyncApp.ADMIN_TOKEN);
        browser.findElement(By.id("submit")).click();
        waitForText("paused-crm", "Paused by the target's Retry-After until");
        screenshot("08-dashboard-paused");
        browser.get(app.url("/ui/#/order/democon/ABC12"));
        waitForText("status-text-crm", "Attempt 1 of 5 failed, next try at");
        waitForText("log", "attempt 1 of 5 failed, next try at");
        screenshot("09-order-retrying");
    }

    /** The pretix page: an import started from the form shows its progress until done; the token is never on the page. */
    @Test
    void anImportFromPretixIsStartedAndFollowedInTheUi() throws Exception {
        try (io.ordersync.support.PretixTestServer pretix = io.ordersync.support.PretixTestServer.start()) {
            pretix.addOrders("democon", "U", 149);
            startWithCrm(5, "1h", Map.of("ordersync.admin.username", "admin", "ordersync.admin.password", "s3cure-pw",
                    "ordersync.pretix.url", pretix.url(), "ordersync.pretix.organizer", io.ordersync.support.PretixTestServer.ORGANIZER,
                    "ordersync.pretix.token", io.ordersync.support.PretixTestServer.TOKEN, "ordersync.pretix.import-page-pause-ms", "300"));
            browser.get(app.url("/ui/"));
            wait.until(ExpectedConditions.urlContains("/login"));
            browser.findElement(By.id("username")).sendKeys("admin");
            browser.findElement(By.id("password")).sendKeys("s3cure-pw");
            browser.findElement(By.id("submit")).click();
            wait.until(ExpectedConditions.urlContains("/ui/"));
            browser.get(app.url("/ui/#/pretix"));
            byTestId("pretix-fetches");
            browser.findElement(By.id("pretix-import-event")).sendKeys("democon");
            browser.findElement(By.cssSelector("#pretix-import button")).click();
            waitForText("pretix-import-progress-1", "/ 150");
            screenshot("20-pretix-import-running");
            waitForText("pretix-import-progress-1", "150 / 150");
            screenshot("21-pretix-import-done");
            assertThat(browser.getPageSource()).contains("done").doesNotContain(io.ordersync.support.PretixTestServer.TOKEN);
            assertThat(app.count("SELECT COUNT(*) FROM order_snapshot")).isEqualTo(150);

            // imported again, slowly: a second start while it runs is told so, and Cancel stops it
            pretix.slow(1500);
            browser.findElement(By.id("pretix-import-event")).sendKeys("democon");
            browser.findElement(By.cssSelector("#pretix-import button")).click();
            waitForText("pretix-import-state-2", "running");
            browser.findElement(By.id("pretix-import-event")).clear();
            browser.findElement(By.id("pretix-import-event")).sendKeys("democon");
            browser.findElement(By.cssSelector("#pretix-import button")).click();
            wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("toast"), "import #2 of democon is running"));
            browser.findElement(By.cssSelector("[data-cancel-import='2']")).click();
            browser.switchTo().alert().accept();
            waitForText("pretix-import-state-2", "canceled");
            assertThat(browser.findElements(By.cssSelector("[data-cancel-import]"))).as("nothing left to cancel").isEmpty();
            assertThat(app.count("SELECT COUNT(*) FROM pretix_import")).isEqualTo(2);
        }
    }
}
