# Runs a snippet against the REAL oVirt Python SDK (ovirt-engine-sdk-python, from the venv
# scripts/sdk-venv.sh makes) for tests/ovirt_repr.rs.
#
# stdin: a JSON object {"code": "<python>", "inputs": {...}}. The snippet runs with these
# names: `inputs`, `out` (a dict printed back as JSON on stdout), the SDK modules, and:
#   read(xml_text)       -> the SDK object, via the reader registry the services use
#   write(obj)           -> the XML the SDK sends for `obj` (what add/update/actions send)
#   dump(obj)            -> a JSON-able view of an SDK object: structs as dicts of their set
#                           properties, enums as "EnumClass:value", dates in ISO 8601, SDK lists
#                           as {"href": ..., "items": [...]}
#   FakeConnection(replies)  a Connection whose HTTP exchange is replaced: each request is
#                           recorded in .requests and answered by the next (status, body,
#                           content_type) of `replies`; everything above HTTP (services, status
#                           checks, fault handling, content-type checks) is the SDK's own code.
#   call(fn)             -> {"ok": dump(result)} or {"error": class, "message", "code", "fault"}
import datetime
import enum
import json
import sys
import textwrap

import ovirtsdk4 as sdk
from ovirtsdk4 import http, reader, readers, services, types, writer, writers, xml  # noqa: F401


def read(xml_text):
    return reader.Reader.read(xml_text)


def write(obj):
    return writer.Writer.write(obj, indent=True)


def dump(obj):
    if obj is None:
        return None
    if isinstance(obj, enum.Enum):
        return '%s:%s' % (type(obj).__name__, obj.value)
    if isinstance(obj, datetime.datetime):
        return obj.isoformat()
    if isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, sdk.List):
        return {'href': obj.href, 'items': [dump(item) for item in obj]}
    if isinstance(obj, list):
        return [dump(item) for item in obj]
    if isinstance(obj, sdk.Struct):
        result = {}
        for name in dir(type(obj)):
            if name.startswith('_') or not isinstance(getattr(type(obj), name), property):
                continue
            value = getattr(obj, name)
            if value is not None:
                result[name] = dump(value)
        return result
    return repr(obj)


class FakeConnection(sdk.Connection):
    def __init__(self, replies):  # pylint: disable=super-init-not-called
        self._url = 'https://engine.test/ovirt-engine/api'
        self.replies = list(replies)
        self.requests = []

    def send(self, request):
        self.requests.append({
            'method': request.method,
            'path': request.path,
            'query': request.query,
            'body': request.body,
        })
        return request

    def wait(self, context, failed_auth=False):
        status, body, content_type = self.replies.pop(0)
        return http.Response(
            body=(body or '').encode('utf-8'),
            code=status,
            headers=['HTTP/1.1 %d Whatever' % status, 'Content-Type: %s' % content_type, ''],
        )

    def system(self):
        return services.SystemService(self, '')


def call(fn):
    try:
        return {'ok': dump(fn())}
    except sdk.Error as error:
        return {
            'error': type(error).__name__,
            'message': str(error),
            'code': error.code,
            'fault': dump(error.fault),
        }


def main():
    request = json.load(sys.stdin)
    namespace = dict(globals())
    namespace['inputs'] = request.get('inputs', {})
    namespace['out'] = {}
    exec(textwrap.dedent(request['code']), namespace)  # pylint: disable=exec-used
    json.dump(namespace['out'], sys.stdout)


main()
