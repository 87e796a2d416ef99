"""The dashboard: a Telegram Mini App served by the bot's own process (aiohttp).

``auth`` checks (and, for the sandbox and tests, makes) Telegram's signed ``initData``;
``server`` is the aiohttp application: the page, its static files and the JSON endpoints,
which ask ``bot.flows.dashboard`` for figures. The page itself is ``static/``: plain HTML,
CSS and JavaScript with a vendored Chart.js, no build step.
"""
