"""Helpers of the browser tests of ``cnnkit serve`` (and of examples/serve_screenshots.py): a live server, a browser."""
import contextlib
import shutil
import socket
import threading
import time

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@contextlib.contextmanager
def running_server(project, face_db=None):
    """The playground on uvicorn in a thread, on a free port of 127.0.0.1; yields its URL."""
    import uvicorn

    from cnnkit.serve import create_app
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(project, face_db), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("the playground's server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


class Browser:
    """Headless Chromium through Selenium, with the few actions the tests need."""

    def __init__(self, url, width=1440, height=1000):
        self.url, self.size = url, (width, height)

    def __enter__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={self.size[0]},{self.size[1]}", "--force-device-scale-factor=1"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        return self

    def __exit__(self, *exc):
        self.driver.quit()

    def find(self, selector):
        from selenium.webdriver.common.by import By
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def finds(self, selector):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def wait(self, condition, timeout=60, what="the page"):
        """Wait until ``condition(driver)`` is truthy; its value."""
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait
        # the pages re-render what they poll: an element can vanish between finding and reading it
        retry = (NoSuchElementException, StaleElementReferenceException)
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1, ignored_exceptions=retry).until(condition)
        except TimeoutException:  # say what the page showed, for the test report
            shown = self.driver.execute_script("return document.querySelector('.page.active').innerText")
            raise TimeoutException(f"waiting for {what}; error banner: {self.error()!r}; the page shows: "
                                   f"{' '.join(shown.split())[:600]}") from None

    def wait_for(self, selector, timeout=60):
        """Wait until an element matching ``selector`` is displayed; the element."""
        return self.wait(lambda d: next((e for e in self.finds(selector) if e.is_displayed()), None), timeout, selector)

    def open(self, tab):
        """Load the playground on a tab and wait until its pickers are built."""
        if not self.driver.current_url.startswith(self.url):
            self.driver.get(f"{self.url}/#{tab}")
            self.wait(lambda d: self.finds(".picker select"), 60, "the pickers")
        self.find(f'#tabs button[data-tab="{tab}"]').click()
        self.wait_for(f"#{tab}.page.active")

    def task(self, name):
        self.find(f'#task-tabs button[data-task="{name}"]').click()
        self.wait_for(f"#task-{name}.active")

    def select(self, selector, value=None, index=None):
        from selenium.webdriver.support.ui import Select
        menu = Select(self.find(selector))
        menu.select_by_value(value) if value is not None else menu.select_by_index(index)

    def click_and_wait(self, button, result, timeout=60):
        """Click ``button`` and wait for ``result`` to appear and the button to be enabled again."""
        self.find(button).click()
        element = self.wait_for(result, timeout)
        self.wait(lambda d: self.find(button).is_enabled(), timeout, f"{button} to finish")
        return element

    def error(self):
        """The error banner's text, or None when it is hidden."""
        banner = self.find("#error")
        return banner.text.rstrip("×").strip() if banner.is_displayed() else None

    def hover_output(self, fy, fx):
        """Move the mouse over the conv output map at fractions (fy, fx) of its size."""
        from selenium.webdriver.common.action_chains import ActionChains
        canvas = self.wait_for("#conv-output")
        self.wait(lambda d: d.execute_script("return conv.data !== null && conv.outImage !== undefined"), 30, "the map")
        size = canvas.size
        ActionChains(self.driver).move_to_element_with_offset(
            canvas, int((fx - 0.5) * size["width"]), int((fy - 0.5) * size["height"])).perform()
        self.wait(lambda d: "sum of the products" in self.find("#conv-dot").text, 10, "the dot product")

    def train(self, epochs=2, limit="200"):
        """Start a LeNet-5 run on the digits from the form and wait until it has finished."""
        field = self.find('#train-form input[name="epochs"]')
        field.clear()
        field.send_keys(str(epochs))
        self.select('#train-form select[name="limit"]', value=limit)
        self.find("#train-start").click()
        self.wait(lambda d: "test accuracy" in self.find("#train-job p").text, 240, "training to finish")
        self.wait_for("#train-runs tr[data-run]")

    def shot(self, path):
        """Save a screenshot of the whole page (the window grown to the page's height)."""
        height = self.driver.execute_script("return document.body.scrollHeight")
        self.driver.set_window_size(self.size[0], max(self.size[1], min(height + 20, 2400)))
        self.driver.save_screenshot(path)
        self.driver.set_window_size(*self.size)
