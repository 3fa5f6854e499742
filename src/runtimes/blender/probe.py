# Prints what this Blender can render with: its version and the Cycles device types it sees.
import json

import _cycles
import bpy

devices = []
for kind in ('CPU', 'CUDA', 'OPTIX', 'HIP', 'METAL', 'ONEAPI'):
    try:
        if any(d[1] == kind for d in _cycles.available_devices(kind)):
            devices.append(kind)
    except Exception:
        pass
print('PLEXUS_BLENDER ' + json.dumps({'version': bpy.app.version_string.split(' ')[0], 'devices': devices}))
