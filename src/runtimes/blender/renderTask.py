# Renders one Plexus render task (a frame, or a region of it) with Cycles on the CPU.
# Started by renderBlender.ts as:
#   blender -b --factory-startup --disable-autoexec -noaudio FILE.blend --python renderTask.py -- TASK.json OUT.png THREADS
# TASK.json: {"frame", "width", "height", "samples", "seed", "region": [x0, y0, x1, y1]} (pixels,
# origin top left, x1/y1 exclusive). The output is the region only (border render, cropped).
# A list of tasks renders each in turn into OUT-0.png, OUT-1.png, … (reference renders in tests
# and the benchmark, without a Blender start per image).
import json
import sys

import bpy

argv = sys.argv[sys.argv.index('--') + 1:]
loaded = json.load(open(argv[0]))
out = argv[1]
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


if isinstance(loaded, list):
    for i, t in enumerate(loaded):
        render(t, f'{out}-{i}.png')
else:
    render(loaded, out)

# What the render cost, measured by the process itself (the agent reports it in its signed result).
import resource  # noqa: E402

ru = resource.getrusage(resource.RUSAGE_SELF)
with open(out + '.usage.json', 'w') as f:
    json.dump({'cpuMs': round((ru.ru_utime + ru.ru_stime) * 1000), 'peakRssBytes': ru.ru_maxrss * 1024}, f)
