"""Running a study: the driver (:mod:`.driver`) starts one worker process per device slot
(:mod:`.devices`, :mod:`.worker`, :mod:`.lifetime`); each runs the trial objective
(:mod:`.objective`: sample, check on the meta device with :mod:`.feasibility`, fit with the pruning
callback of :mod:`.callbacks`) and the driver prints :mod:`.progress` lines."""
