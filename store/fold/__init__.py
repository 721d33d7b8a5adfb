"""The store's functional core: current rows + a batch's events -> new rows, with no I/O.

One module per aggregate (patients, arrivals, orders, schedule, reports, devices, studies,
steps, milestones, links); `fold_batch` runs each message's events over the rows the shell
loaded, and a message it refuses leaves no trace.
"""
