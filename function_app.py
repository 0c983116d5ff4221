"""The Functions app object. It only registers blueprints; everything else lives in ``shared``."""

import azure.functions as func

from shared.triggers.callbacks import bp as callback_blueprint
from shared.triggers.http import bp as http_blueprint
from shared.triggers.pages import bp as page_blueprint
from shared.triggers.queue import bp as queue_blueprint
from shared.triggers.timer import bp as timer_blueprint
from shared.triggers.verify import bp as verify_blueprint

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(http_blueprint)
app.register_functions(queue_blueprint)
app.register_functions(timer_blueprint)
app.register_functions(callback_blueprint)
app.register_functions(page_blueprint)
app.register_functions(verify_blueprint)
