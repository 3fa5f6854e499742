# Generates the procedural test scene (nothing downloaded): a few coloured objects on a floor,
# a sun, an animated camera orbit, Cycles. Run with:
#   blender -b --factory-startup --disable-autoexec -noaudio --python makeScene.py -- OUT.blend [--frames N] [--variant V] [--autorun-marker PATH] [--sun-energy E]
# --variant changes colours and layout (a "different scene" with the same shape of job);
# --autorun-marker embeds a registered text block that would write PATH when the file is opened
# with auto-run on (the provider must never execute it).
# --sun-energy sets the sun's strength (3 by default; 30 lights surfaces far above 1.0: EXR highlights).
import math
import sys

import bpy

argv = sys.argv[sys.argv.index('--') + 1:] if '--' in sys.argv else []
out = argv[0]
frames = int(argv[argv.index('--frames') + 1]) if '--frames' in argv else 48
variant = int(argv[argv.index('--variant') + 1]) if '--variant' in argv else 0
marker = argv[argv.index('--autorun-marker') + 1] if '--autorun-marker' in argv else None
sun_energy = float(argv[argv.index('--sun-energy') + 1]) if '--sun-energy' in argv else 3

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.engine = 'CYCLES'
scene.frame_start = 1
scene.frame_end = frames
scene.render.resolution_x = 64
scene.render.resolution_y = 48
scene.render.resolution_percentage = 100
scene.cycles.samples = 16

world = bpy.data.worlds.new('World')
scene.world = world
world.use_nodes = True
world.node_tree.nodes['Background'].inputs[0].default_value = (0.05, 0.07, 0.12, 1)


def material(name, rgb):
    m = bpy.data.materials.new(name)
    m.use_nodes = True
    m.node_tree.nodes['Principled BSDF'].inputs['Base Color'].default_value = (*rgb, 1)
    return m


bpy.ops.mesh.primitive_plane_add(size=20)
bpy.context.object.data.materials.append(material('floor', (0.6, 0.6, 0.55)))
palette = [(0.9, 0.2, 0.1), (0.1, 0.5, 0.9), (0.2, 0.8, 0.3), (0.9, 0.8, 0.1), (0.7, 0.2, 0.8)]
for i in range(5):
    angle = 2 * math.pi * i / 5 + variant * 0.9
    x, y = 2.2 * math.cos(angle), 2.2 * math.sin(angle)
    if (i + variant) % 2 == 0:
        bpy.ops.mesh.primitive_uv_sphere_add(radius=0.7, location=(x, y, 0.7), segments=24, ring_count=12)
    else:
        bpy.ops.mesh.primitive_cube_add(size=1.2, location=(x, y, 0.6))
    obj = bpy.context.object
    obj.data.materials.append(material(f'm{i}', palette[(i + variant) % 5]))
    # Each object spins and bobs, so every frame differs from its neighbours.
    obj.rotation_euler = (0, 0, 0)
    obj.keyframe_insert('rotation_euler', frame=1)
    obj.rotation_euler = (0, 0, math.pi * (1 + i * 0.3))
    obj.keyframe_insert('rotation_euler', frame=frames)
    obj.keyframe_insert('location', frame=1)
    obj.location.z += 0.8 * (1 if i % 2 else -0.5)
    obj.keyframe_insert('location', frame=frames)

bpy.ops.object.light_add(type='SUN', location=(0, 0, 10))
bpy.context.object.data.energy = sun_energy
bpy.context.object.rotation_euler = (0.6, 0.2, 0.4 + variant)

# The camera orbits the scene once over the animation.
bpy.ops.object.empty_add(location=(0, 0, 0))
pivot = bpy.context.object
bpy.ops.object.camera_add(location=(0, -8, 4.5))
cam = bpy.context.object
cam.rotation_euler = (math.radians(62), 0, 0)
cam.parent = pivot
scene.camera = cam
pivot.rotation_euler = (0, 0, 0)
pivot.keyframe_insert('rotation_euler', frame=1)
pivot.rotation_euler = (0, 0, math.pi * 1.5)
pivot.keyframe_insert('rotation_euler', frame=frames)
for fc in pivot.animation_data.action.fcurves:
    for kp in fc.keyframe_points:
        kp.interpolation = 'LINEAR'

if marker:
    text = bpy.data.texts.new('autorun.py')
    text.write(f"open({marker!r}, 'w').write('auto-run script executed')\n")
    text.use_module = True  # "Register": runs when the file is loaded with auto-run enabled

bpy.ops.file.pack_all()
bpy.ops.wm.save_as_mainfile(filepath=out, compress=True)
