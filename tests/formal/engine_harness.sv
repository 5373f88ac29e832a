// Proofs 2 and 3: the SST engine's streams and accumulators, on the Verilog
// that sst_hw.emit.engine emits (@DUT@, never edited).
//
// Under arbitrary i.valid, i.payload and o.ready on every cycle (anyseq),
// after one reset cycle, with rows of at most MAXBEATS beats (max_row_len):
//
//  * every o beat is a row: o.valid only while some accepted row (its last
//    beat taken) has not left yet, and at most DEPTH (out_depth) rows are
//    ever outstanding, so none is overwritten;
//  * every row leaves exactly once and in order: the harness keeps a queue
//    of the rows' reference results, and each o transfer must equal its head
//    (so the beat is neither dropped, duplicated nor reordered);
//  * none is held back: once the oldest outstanding row was accepted
//    LAT cycles ago (the engine's latency), o.valid is high;
//  * o is a stream: while o.valid & ~o.ready, o.valid stays high and
//    o.payload does not change;
//  * accumulators do not overflow: the W-bit results equal the reference
//    sums computed in RW > W bits (the code's decoded vectors, a constant
//    table, times the activations, summed over the row).
//
// Placeholders @NAME@ are filled in by tests/formal/engine.py.
module engine_harness(input clk);
    localparam PE = @PE@, SIMD = @SIMD@, N = @N@, A = @A@, ASIGNED = @ASIGNED@;
    localparam B = @B@;                // code bits
    localparam W = @W@;                // accumulator width
    localparam RW = @RW@;              // reference width
    localparam LAT = @LAT@;            // latency (last beat accepted -> o offered)
    localparam DEPTH = @DEPTH@;        // out_depth
    localparam MAXBEATS = @MAXBEATS@;  // beats per row (max_row_len / (N * SIMD))
    localparam IW = @IW@, OW = PE * W;
    localparam ACT_OFF = @ACT_OFF@, CODE_OFF = @CODE_OFF@, LAST_BIT = @LAST_BIT@;
    localparam QN = DEPTH + 1;         // reference queue: one more, to see an overflow

    (* anyseq *) wire i_valid;
    (* anyseq *) wire [IW-1:0] i_payload;
    (* anyseq *) wire o_ready;
    wire i_ready, o_valid;
    wire [OW-1:0] o_payload;

    reg rst = 1'b1;                    // one reset cycle, then none
    always @(posedge clk) rst <= 1'b0;

    @DUT@ dut(.clk(clk), .rst(rst), .i__valid(i_valid), .i__ready(i_ready),
              .i__payload(i_payload), .o__valid(o_valid), .o__ready(o_ready),
              .o__payload(o_payload));

@DECODE@

    wire accept = !rst && i_valid && i_ready;
    wire last = i_payload[LAST_BIT];
    wire emit = !rst && o_valid && o_ready;

    // Rows are at most MAXBEATS beats long.
    reg [7:0] beats = 0;               // beats of the current row taken so far
    always @(posedge clk)
        if (rst)
            beats <= 0;
        else if (accept)
            beats <= last ? 0 : beats + 1;
    always @* if (!rst && i_valid && beats == MAXBEATS - 1) assume (last);

    // The reference: this beat's dot products, the running row sums.
    reg [PE*RW-1:0] beat_dot, row_total;
    reg [PE*RW-1:0] acc = 0;
    reg signed [RW-1:0] x, d;
    reg [2*N-1:0] w;
    integer p, s, j;
    always @* begin
        for (p = 0; p < PE; p = p + 1) begin
            d = 0;
            for (s = 0; s < SIMD; s = s + 1) begin
                w = vec(i_payload[CODE_OFF + (p*SIMD + s)*B +: B]);
                for (j = 0; j < N; j = j + 1) begin
                    if (ASIGNED)
                        x = $signed(i_payload[ACT_OFF + (s*N + j)*A +: A]);
                    else
                        x = $signed({1'b0, i_payload[ACT_OFF + (s*N + j)*A +: A]});
                    if (w[2*j])
                        d = d + x;
                    if (w[2*j + 1])
                        d = d - x;
                end
            end
            beat_dot[p*RW +: RW] = d;
            row_total[p*RW +: RW] = acc[p*RW +: RW] + d;
        end
    end
    always @(posedge clk)
        if (rst)
            acc <= 0;
        else if (accept)
            acc <= last ? {PE*RW{1'b0}} : row_total;

    // The queue of outstanding rows (accepted, not yet out): results and ages.
    reg [QN*PE*RW-1:0] q = 0;
    reg [QN*8-1:0] age = 0;
    reg [3:0] count = 0;
    wire push = accept && last;
    integer e;
    always @(posedge clk) begin
        if (rst) begin
            count <= 0;
        end else begin
            for (e = 0; e < QN; e = e + 1)
                if (age[e*8 +: 8] != 8'hff)
                    age[e*8 +: 8] <= age[e*8 +: 8] + 1;
            if (emit) begin
                q <= q >> (PE*RW);
                for (e = 0; e + 1 < QN; e = e + 1)
                    age[e*8 +: 8] <= (age[(e+1)*8 +: 8] == 8'hff) ? 8'hff
                                   : age[(e+1)*8 +: 8] + 1;
            end
            if (push && count - emit < QN) begin
                q[(count - emit)*PE*RW +: PE*RW] <= row_total;
                age[(count - emit)*8 +: 8] <= 0;
            end
            count <= count + push - emit;
        end
    end
    wire [PE*RW-1:0] head = q[PE*RW-1:0];

    // The previous cycle, for the stream rules.
    reg was_stalled = 0;
    reg [OW-1:0] past_payload = 0;
    always @(posedge clk) begin
        was_stalled <= !rst && o_valid && !o_ready;
        past_payload <= o_payload;
    end

    always @* begin
        if (!rst) begin
            assert (count <= DEPTH);                                    // none overwritten
            assert (!o_valid || count != 0);                            // o beats are rows
            if (count != 0 && age[7:0] >= LAT - 1)
                assert (o_valid);                                       // none held back
            if (was_stalled)
                assert (o_valid && o_payload == past_payload);          // stable when stalled
        end
    end
    genvar g;
    generate for (g = 0; g < PE; g = g + 1) begin : check
        wire signed [RW-1:0] got = $signed(o_payload[g*W +: W]);
        wire signed [RW-1:0] want = head[g*RW +: RW];
        always @* if (emit && count != 0) assert (got == want);       // in order, exact
    end endgenerate
endmodule
