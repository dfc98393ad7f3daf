"""Motion data for the humanoid: skeletons and clips, readers (poselib, DeepMimic), motion sets, and
the jittable motion library. Import the submodules; nothing here imports a simulator."""
