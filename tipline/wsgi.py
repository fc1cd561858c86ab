import os

from django.core.wsgi import get_wsgi_application

from tipline.startup import refuse_on_errors

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipline.settings")
application = get_wsgi_application()
refuse_on_errors("the web server")
