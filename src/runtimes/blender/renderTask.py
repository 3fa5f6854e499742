# Renders one Plexus render task (a frame, or a region of it) with Cycles on the CPU.
# Started by renderBlender.ts as:
#   blender -b --factory-startup --disable-autoexec -noaudio FILE.blend --python renderTask.py -- TASK.json OUT.png THREADS
# TASK.json: {"frame", "width", "height", "samples", "seed", "region": [x0, y0, x1, y1]} (pixels,
# origin top left, x1/y1 exclusive), and "format": "exr" for half-float OpenEXR (else PNG). The
# output is the region only (border render, cropped), at OUT as given (the caller names it .png
# or .exr). A list of tasks renders each in turn into OUT-0.png (or .exr), OUT-1.png, …
# (reference renders in tests and the benchmark, without a Blender start per image).
# `-- --serve - THREADS`: a warm Blender that renders one task per stdin line (warmBlender.ts).
import json
import sys

import bpy

argv = sys.argv[sys.argv.index('--') + 1:]
threads = int(argv[2])

def render(task, path):
    scene = bpy.context.scene
    r = scene.render
    r.engine = 'CYCLES'
    c = scene.cycles
    c.device = 'CPU'
    c.samples = task['samples']
    c.seed = task['seed']
    c.use_animated_seed = False
    c.use_adaptive_sampling = False
    c.use_denoising = False
    r.resolution_x = task['width']
    r.resolution_y = task['height']
    r.resolution_percentage = 100
    r.threads_mode = 'FIXED'
    r.threads = threads
    r.use_compositing = False
    r.use_sequencer = False
    if task.get('format') == 'exr':
        # Scene-linear half float (16-bit): a beauty pass keeps ~3 significant digits and a range
        # to 65504, at half the bytes of full float; ZIP is lossless.
        r.image_settings.file_format = 'OPEN_EXR'
        r.image_settings.color_mode = 'RGBA'
        r.image_settings.color_depth = '16'
        r.image_settings.exr_codec = 'ZIP'
        r.image_settings.use_preview = False
    else:
        r.image_settings.file_format = 'PNG'
        r.image_settings.color_mode = 'RGBA'
        r.image_settings.color_depth = '8'
    r.film_transparent = False
    x0, y0, x1, y1 = task['region']
    w, h = task['width'], task['height']
    full = (x0, y0, x1, y1) == (0, 0, w, h)
    r.use_border = not full
    r.use_crop_to_border = not full
    # Blender's border is in fractions with the origin bottom left.
    r.border_min_x = x0 / w
    r.border_max_x = x1 / w
    r.border_min_y = (h - y1) / h
    r.border_max_y = (h - y0) / h
    scene.frame_set(task['frame'])
    r.filepath = path
    bpy.ops.render.render(write_still=True)


import resource  # noqa: E402


def cpu_ms():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return (ru.ru_utime + ru.ru_stime) * 1000


if argv[0] == '--serve':
    # A warm Blender (warmBlender.ts): the scene stays loaded; each stdin line is one task,
    # {"task": {...}, "out": PATH}; each answer one stdout line PLEXUS_RENDERED {"cpuMs", "peakRssBytes"}
    # with the CPU time since the previous answer (the first one includes Blender's start).
    since = 0.0
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        render(req['task'], req['out'])
        now = cpu_ms()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print('PLEXUS_RENDERED ' + json.dumps({'cpuMs': round(now - since), 'peakRssBytes': peak}), flush=True)
        since = now
    sys.exit(0)

loaded = json.load(open(argv[0]))
out = argv[1]
if isinstance(loaded, list):
    for i, t in enumerate(loaded):
        render(t, f"{out}-{i}.{'exr' if t.get('format') == 'exr' else 'png'}")
else:
    render(loaded, out)

# What the render cost, measured by the process itself (the agent reports it in its signed result).
ru = resource.getrusage(resource.RUSAGE_SELF)
with open(out + '.usage.json', 'w') as f:
    json.dump({'cpuMs': round(cpu_ms()), 'peakRssBytes': ru.ru_maxrss * 1024}, f)
