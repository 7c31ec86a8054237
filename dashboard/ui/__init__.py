"""What the pages share on screen: page opening and error guard, face grids, training progress
(widgets), the sidebar forms, sampler and vector pickers, projection planes, the normality panel."""
